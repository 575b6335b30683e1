//! The `dataport.v1.DataPort` service.
//!
//! A thin table of handlers: each authenticates, then hands the request to the module that owns
//! it (`import`, `export`, `jobs`) and maps every failure through [`ServiceError`].

use dataport_core::Permission;
use dataport_proto::{convert, v1};
use dataport_store::Store;
use tonic::{Request, Response, Status, Streaming};

use crate::{
    audit::Audit,
    auth::Authenticator,
    config::ImportLimits,
    error::{ServiceError, blocking},
    export,
    formats::Formats,
    import,
    inflight::InFlight,
    jobs,
    stream::EventStream,
};

/// The DataPort service implementation.
#[derive(Clone)]
pub struct DataPortService {
    store: Store,
    auth: Authenticator,
    inflight: InFlight,
    formats: Formats,
    limits: ImportLimits,
    /// One permit per running import (`--max-concurrent-imports`).
    import_slots: std::sync::Arc<tokio::sync::Semaphore>,
    running: import::RunningImports,
    audit: Audit,
}

impl DataPortService {
    pub fn new(
        store: Store,
        formats: Formats,
        limits: ImportLimits,
        inflight: InFlight,
        running: import::RunningImports,
        audit: Audit,
    ) -> Self {
        DataPortService {
            auth: Authenticator::new(store.clone(), Some(audit.clone())),
            audit,
            store,
            inflight,
            running,
            formats,
            import_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent)),
            limits,
        }
    }

    /// Authentication, and its count of failures.
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    fn export_context(&self) -> export::ExportContext {
        export::ExportContext {
            store: self.store.clone(),
            formats: self.formats.clone(),
            audit: self.audit.clone(),
        }
    }

    fn import_context(&self) -> import::ImportContext {
        import::ImportContext {
            store: self.store.clone(),
            formats: self.formats.clone(),
            limits: self.limits,
            slots: self.import_slots.clone(),
            running: self.running.clone(),
            inflight: self.inflight.clone(),
            audit: self.audit.clone(),
        }
    }
}

#[tonic::async_trait]
impl v1::data_port_server::DataPort for DataPortService {
    type ImportStream = EventStream<v1::ImportEvent>;
    type ExportStream = EventStream<v1::ExportEvent>;
    type GetTemplateStream = EventStream<v1::FileEvent>;
    type GetErrorFileStream = EventStream<v1::FileEvent>;
    type WatchImportStream = EventStream<v1::ImportEvent>;
    type RevertImportStream = EventStream<v1::RevertEvent>;

    async fn revert_import(
        &self,
        request: Request<v1::RevertImportRequest>,
    ) -> Result<Response<Self::RevertImportStream>, Status> {
        let call = self.inflight.enter();
        let caller = self
            .auth
            .authorize(request.metadata(), request.remote_addr(), &[Permission::Import])
            .await?;
        let stream = crate::revert::start(
            self.store.clone(),
            self.audit.clone(),
            caller,
            request.into_inner(),
            call,
        )
        .await?;
        Ok(Response::new(stream))
    }

    async fn import(
        &self,
        request: Request<Streaming<v1::ImportRequest>>,
    ) -> Result<Response<Self::ImportStream>, Status> {
        let call = self.inflight.enter();
        let caller = self
            .auth
            .authorize(request.metadata(), request.remote_addr(), &[import::PERMISSION])
            .await?;
        let stream = import::start(self.import_context(), caller, request.into_inner(), call).await?;
        Ok(Response::new(stream))
    }

    async fn cancel_import(
        &self,
        request: Request<v1::CancelImportRequest>,
    ) -> Result<Response<v1::CancelImportResponse>, Status> {
        let _call = self.inflight.enter();
        let caller = self
            .auth
            .authorize(request.metadata(), request.remote_addr(), &[Permission::Import])
            .await?;
        let response = jobs::cancel(self.store.clone(), &self.running, &caller, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn watch_import(
        &self,
        request: Request<v1::WatchImportRequest>,
    ) -> Result<Response<Self::WatchImportStream>, Status> {
        let call = self.inflight.enter();
        let caller = self
            .auth
            .authorize(request.metadata(), request.remote_addr(), &[Permission::Import])
            .await?;
        let stream = jobs::watch(self.store.clone(), caller, request.into_inner(), call).await?;
        Ok(Response::new(stream))
    }

    async fn export(
        &self,
        request: Request<v1::ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let call = self.inflight.enter();
        let caller = self
            .auth
            .authorize(
                request.metadata(),
                request.remote_addr(),
                &[export::EXPORT_PERMISSION],
            )
            .await?;
        let stream = export::start_export(self.export_context(), &caller, request.into_inner(), call)?;
        Ok(Response::new(stream))
    }

    async fn count_records(
        &self,
        request: Request<v1::CountRecordsRequest>,
    ) -> Result<Response<v1::CountRecordsResponse>, Status> {
        let _call = self.inflight.enter();
        self.auth
            .authorize(request.metadata(), request.remote_addr(), &[Permission::Export])
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
        let caller = self
            .auth
            .authorize(
                request.metadata(),
                request.remote_addr(),
                &[Permission::Import, Permission::Export],
            )
            .await?;
        let stream = export::start_template(self.export_context(), &caller, request.into_inner(), call)?;
        Ok(Response::new(stream))
    }

    async fn list_formats(
        &self,
        request: Request<v1::ListFormatsRequest>,
    ) -> Result<Response<v1::ListFormatsResponse>, Status> {
        let _call = self.inflight.enter();
        self.auth
            .authorize(request.metadata(), request.remote_addr(), &[])
            .await?;
        Ok(Response::new(v1::ListFormatsResponse {
            formats: self.formats.list(),
        }))
    }

    async fn describe_module(
        &self,
        request: Request<v1::DescribeModuleRequest>,
    ) -> Result<Response<v1::DescribeModuleResponse>, Status> {
        let _call = self.inflight.enter();
        self.auth
            .authorize(request.metadata(), request.remote_addr(), &[])
            .await?;
        let module = convert::module_from_proto(request.get_ref().module).map_err(ServiceError::from)?;
        Ok(Response::new(convert::describe_module(module)))
    }

    async fn get_import_job(
        &self,
        request: Request<v1::GetImportJobRequest>,
    ) -> Result<Response<v1::GetImportJobResponse>, Status> {
        let _call = self.inflight.enter();
        let caller = self
            .auth
            .authorize(request.metadata(), request.remote_addr(), &[Permission::Import])
            .await?;
        let response = jobs::get(self.store.clone(), &caller, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn list_import_jobs(
        &self,
        request: Request<v1::ListImportJobsRequest>,
    ) -> Result<Response<v1::ListImportJobsResponse>, Status> {
        let _call = self.inflight.enter();
        let caller = self
            .auth
            .authorize(request.metadata(), request.remote_addr(), &[Permission::Import])
            .await?;
        let response = jobs::list(self.store.clone(), &caller, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn get_error_file(
        &self,
        request: Request<v1::GetErrorFileRequest>,
    ) -> Result<Response<Self::GetErrorFileStream>, Status> {
        let call = self.inflight.enter();
        let caller = self
            .auth
            .authorize(request.metadata(), request.remote_addr(), &[Permission::Import])
            .await?;
        let stream =
            export::start_error_file(self.export_context(), &caller, request.into_inner(), call).await?;
        Ok(Response::new(stream))
    }

    async fn list_audit_log(
        &self,
        request: Request<v1::ListAuditLogRequest>,
    ) -> Result<Response<v1::ListAuditLogResponse>, Status> {
        let _call = self.inflight.enter();
        self.auth
            .authorize(request.metadata(), request.remote_addr(), &[Permission::Admin])
            .await?;
        let response = crate::audit::list(self.store.clone(), request.into_inner()).await?;
        Ok(Response::new(response))
    }
}
