//! The `dataport.v1.DataPort` service.
//!
//! Handlers authenticate first, convert the request into domain types, run storage work on
//! blocking threads and map every failure through [`ServiceError`].

use chrono::{DateTime, TimeZone, Utc};
use dataport_core::Permission;
use dataport_proto::{convert, v1};
use dataport_store::{JobQuery, Store};
use tonic::{Request, Response, Status, Streaming};

use crate::{
    auth::Authenticator,
    config::ImportLimits,
    error::{ServiceError, blocking},
    export,
    formats::Formats,
    import,
    inflight::InFlight,
    report::{job_to_proto, row_error_to_proto},
    stream::EventStream,
};

/// Most row errors one GetImportJob page returns.
const MAX_ERROR_PAGE: u32 = 1000;
/// Default and largest ListImportJobs page.
const DEFAULT_JOB_PAGE: u32 = 50;
const MAX_JOB_PAGE: u32 = 1000;

/// The DataPort service implementation.
#[derive(Clone)]
pub struct DataPortService {
    store: Store,
    auth: Authenticator,
    inflight: InFlight,
    formats: Formats,
    limits: ImportLimits,
}

impl DataPortService {
    pub fn new(store: Store, formats: Formats, limits: ImportLimits, inflight: InFlight) -> Self {
        DataPortService {
            auth: Authenticator::new(store.clone()),
            store,
            inflight,
            formats,
            limits,
        }
    }

    fn export_context(&self) -> export::ExportContext {
        export::ExportContext {
            store: self.store.clone(),
            formats: self.formats.clone(),
        }
    }

    fn import_context(&self) -> import::ImportContext {
        import::ImportContext {
            store: self.store.clone(),
            formats: self.formats.clone(),
            limits: self.limits,
        }
    }
}

#[tonic::async_trait]
impl v1::data_port_server::DataPort for DataPortService {
    type ImportStream = EventStream<v1::ImportEvent>;
    type ExportStream = EventStream<v1::ExportEvent>;
    type GetTemplateStream = EventStream<v1::FileEvent>;
    type GetErrorFileStream = EventStream<v1::FileEvent>;

    async fn import(
        &self,
        request: Request<Streaming<v1::ImportRequest>>,
    ) -> Result<Response<Self::ImportStream>, Status> {
        let call = self.inflight.enter();
        let caller = self
            .auth
            .authorize(request.metadata(), &[import::PERMISSION])
            .await?;
        let stream = import::start(self.import_context(), caller, request.into_inner(), call).await?;
        Ok(Response::new(stream))
    }

    async fn export(
        &self,
        request: Request<v1::ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let call = self.inflight.enter();
        self.auth
            .authorize(request.metadata(), &[export::EXPORT_PERMISSION])
            .await?;
        let stream = export::start_export(self.export_context(), request.into_inner(), call)?;
        Ok(Response::new(stream))
    }

    async fn count_records(
        &self,
        request: Request<v1::CountRecordsRequest>,
    ) -> Result<Response<v1::CountRecordsResponse>, Status> {
        let _call = self.inflight.enter();
        self.auth
            .authorize(request.metadata(), &[Permission::Export])
            .await?;
        let request = request.into_inner();
        let module = convert::module_from_proto(request.module).map_err(ServiceError::from)?;
        let filter =
            convert::filter_from_proto(module, request.filter.as_ref()).map_err(ServiceError::from)?;
        let store = self.store.clone();
        let count = blocking(move || Ok(store.count(&filter)?)).await?;
        Ok(Response::new(v1::CountRecordsResponse { count }))
    }

    async fn get_template(
        &self,
        request: Request<v1::GetTemplateRequest>,
    ) -> Result<Response<Self::GetTemplateStream>, Status> {
        let call = self.inflight.enter();
        self.auth
            .authorize(request.metadata(), &[Permission::Import, Permission::Export])
            .await?;
        let stream = export::start_template(self.export_context(), request.into_inner(), call)?;
        Ok(Response::new(stream))
    }

    async fn list_formats(
        &self,
        request: Request<v1::ListFormatsRequest>,
    ) -> Result<Response<v1::ListFormatsResponse>, Status> {
        let _call = self.inflight.enter();
        self.auth.authorize(request.metadata(), &[]).await?;
        Ok(Response::new(v1::ListFormatsResponse {
            formats: self.formats.list(),
        }))
    }

    async fn get_import_job(
        &self,
        request: Request<v1::GetImportJobRequest>,
    ) -> Result<Response<v1::GetImportJobResponse>, Status> {
        let _call = self.inflight.enter();
        self.auth
            .authorize(request.metadata(), &[Permission::Import])
            .await?;
        let request = request.into_inner();
        let job_id = request.job_id;
        let limit = request.error_limit.min(MAX_ERROR_PAGE) as usize;
        let after_row = i64::try_from(request.errors_after_row)
            .map_err(|_| ServiceError::invalid("errors_after_row", "errors_after_row is too large"))?;
        let store = self.store.clone();
        let (job, errors, total_errors) = blocking(move || {
            let job = store
                .get_job(job_id)?
                .ok_or_else(|| ServiceError::NotFound(format!("import job {job_id} does not exist")))?;
            let errors = if limit == 0 {
                Vec::new()
            } else {
                store.row_errors(job_id, (after_row > 0).then_some(after_row), limit)?
            };
            let total = store.count_row_errors(job_id)?;
            Ok((job, errors, total))
        })
        .await?;
        Ok(Response::new(v1::GetImportJobResponse {
            job: Some(job_to_proto(&job)),
            errors: errors.iter().map(row_error_to_proto).collect(),
            total_errors,
        }))
    }

    async fn list_import_jobs(
        &self,
        request: Request<v1::ListImportJobsRequest>,
    ) -> Result<Response<v1::ListImportJobsResponse>, Status> {
        let _call = self.inflight.enter();
        self.auth
            .authorize(request.metadata(), &[Permission::Import])
            .await?;
        let request = request.into_inner();
        let page_size = match request.page_size {
            0 => DEFAULT_JOB_PAGE,
            n => n.min(MAX_JOB_PAGE),
        } as usize;
        let before_id = if request.page_token.is_empty() {
            None
        } else {
            Some(request.page_token.parse::<i64>().map_err(|_| {
                ServiceError::invalid(
                    "page_token",
                    format!(
                        "page_token '{}' is not one this server issued; pass next_page_token unchanged",
                        request.page_token
                    ),
                )
            })?)
        };
        let module = if request.module == v1::Module::Unspecified as i32 {
            None
        } else {
            Some(convert::module_from_proto(request.module).map_err(ServiceError::from)?)
        };
        let query = JobQuery {
            module,
            status: convert::job_status_from_proto(request.status).map_err(ServiceError::from)?,
            started_after: unix_ms_bound("started_after_unix_ms", request.started_after_unix_ms)?,
            started_before: unix_ms_bound("started_before_unix_ms", request.started_before_unix_ms)?,
            before_id,
            // One extra row tells whether another page follows.
            limit: page_size + 1,
        };
        let store = self.store.clone();
        let mut jobs = blocking(move || Ok(store.list_jobs(&query)?)).await?;
        let next_page_token = if jobs.len() > page_size {
            jobs.truncate(page_size);
            jobs.last().map(|job| job.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(v1::ListImportJobsResponse {
            jobs: jobs.iter().map(job_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_error_file(
        &self,
        request: Request<v1::GetErrorFileRequest>,
    ) -> Result<Response<Self::GetErrorFileStream>, Status> {
        let call = self.inflight.enter();
        self.auth
            .authorize(request.metadata(), &[Permission::Import])
            .await?;
        let stream = export::start_error_file(self.export_context(), request.into_inner(), call).await?;
        Ok(Response::new(stream))
    }
}

fn unix_ms_bound(field: &str, value: i64) -> Result<Option<DateTime<Utc>>, ServiceError> {
    if value == 0 {
        return Ok(None);
    }
    Utc.timestamp_millis_opt(value).single().map(Some).ok_or_else(|| {
        ServiceError::invalid(field, format!("{field}: {value} is not a valid Unix time in ms"))
    })
}
