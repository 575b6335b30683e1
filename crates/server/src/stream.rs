//! The response stream type of the streaming RPCs: events from a bounded channel, so a slow
//! client applies backpressure to the producer instead of growing a queue.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::Status;

/// A server-streaming response.
pub(crate) type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;
