//! The router and its serving: routes, authentication and ACL, request limits, the event
//! pump from the runtime, graceful stop.
//!
//! Limits: request bodies over [`ApiSettings::max_body_bytes`] are refused (413), and at
//! most [`ApiSettings::max_in_flight`] requests run at once; more are answered 503 `busy`
//! at once rather than queued, so a flood cannot pile up blocking runtime calls.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tandem_core::bus::{Event, EventKind};
use tandem_core::runtime::Runtime;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::auth::{Access, Verdict};
use super::error::{ApiError, ApiResult};
use super::events::Hub;
use super::metrics::Metrics;
use super::state::State as Media;
use super::{bridges, channels, events, openapi, playbacks, recordings};
use crate::run::config::{ApiSection, JitterSettings};

/// How the API is set up.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Who may use it.
    pub access: Access,
    /// Events each WebSocket client may have queued before the oldest are dropped.
    pub queue_capacity: usize,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Most requests served at once.
    pub max_in_flight: usize,
    /// The recordings table to share (with ng); `None` makes one writing to
    /// `[recording] dir`'s default.
    pub recordings: Option<Arc<crate::recordings::Recordings>>,
    /// The jitter buffer channels take (`[media]`'s).
    pub jitter: JitterSettings,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            access: Access::default(),
            queue_capacity: Hub::DEFAULT_CAPACITY,
            max_body_bytes: 64 * 1024,
            max_in_flight: 64,
            recordings: None,
            jitter: JitterSettings::default(),
        }
    }
}

impl ApiSettings {
    /// The settings of `[api]`.
    pub fn from_config(section: &ApiSection) -> Self {
        Self {
            access: Access {
                allow: section.allow.clone(),
                keys: section.keys.clone(),
                users: section.users.clone(),
            },
            ..Self::default()
        }
    }
}

/// The API's shared state: the runtime, what the API built on it, the event hub, metrics.
#[derive(Debug)]
pub struct Api {
    pub(crate) runtime: Arc<Runtime>,
    media: Mutex<Media>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) recordings: Arc<crate::recordings::Recordings>,
    pub(crate) settings: ApiSettings,
    in_flight: Semaphore,
}

impl Api {
    /// The API over `runtime`, counting into `metrics`. Starts the event pump (a thread
    /// that turns runtime events into API events; it ends when the API is dropped).
    pub fn new(runtime: Arc<Runtime>, metrics: Arc<Metrics>, settings: ApiSettings) -> Arc<Self> {
        let events = runtime.subscribe();
        let recordings = settings.recordings.clone().unwrap_or_else(|| {
            crate::recordings::Recordings::new(
                Arc::clone(&runtime),
                crate::run::config::RecordingSection::default().dir,
            )
        });
        let api = Arc::new(Self {
            recordings,
            runtime,
            media: Mutex::new(Media::default()),
            hub: Hub::new(settings.queue_capacity),
            metrics,
            in_flight: Semaphore::new(settings.max_in_flight.max(1)),
            settings,
        });
        let weak = Arc::downgrade(&api);
        let spawned = std::thread::Builder::new()
            .name("tandem-api-events".into())
            .spawn(move || pump(&weak, &events));
        if let Err(e) = spawned {
            tracing::error!("the API event pump did not start: {e}");
        }
        let weak = Arc::downgrade(&api);
        let recording_events = api.recordings.subscribe();
        let spawned = std::thread::Builder::new()
            .name("tandem-api-recordings".into())
            .spawn(move || recordings::pump(&weak, &recording_events));
        if let Err(e) = spawned {
            tracing::error!("the API recording event pump did not start: {e}");
        }
        api
    }

    /// The event hub (for publishing from elsewhere in the process).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The metrics registry (shared with the SIP glue; see [`Metrics`]).
    pub fn metrics_registry(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub(crate) fn media(&self) -> MutexGuard<'_, Media> {
        self.media.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs `f` on a blocking thread (runtime calls wait for a worker's reply).
pub(crate) async fn blocking<T, F>(api: &Arc<Api>, f: F) -> ApiResult<T>
where
    F: FnOnce(&Api) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    let api = Arc::clone(api);
    tokio::task::spawn_blocking(move || f(&api))
        .await
        .unwrap_or_else(|e| {
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the request handler failed: {e}"),
            ))
        })
}

/// Turns runtime events into API events until the API is gone.
fn pump(api: &Weak<Api>, events: &std::sync::mpsc::Receiver<Event>) {
    loop {
        let event = match events.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => event,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if api.strong_count() == 0 {
                    return;
                }
                continue;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let Some(api) = api.upgrade() else { return };
        if let EventKind::Dtmf { source, .. } = event.kind {
            api.metrics.dtmf(source);
        }
        channels::on_runtime_event(&api, &event);
    }
}

/// Authentication, ACL, the in-flight limit and the request counter, before any route.
async fn guard(
    State(api): State<Arc<Api>>,
    ConnectInfo(source): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
    next: Next,
) -> Response {
    api.metrics.api_request();
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match api.settings.access.check(
        source.ip(),
        authorization,
        query.get("api_key").map(String::as_str),
    ) {
        Verdict::Allowed => {}
        Verdict::Forbidden => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("{} is not allowed to use the API", source.ip()),
            )
            .into_response();
        }
        Verdict::Unauthorized => return ApiError::unauthorized().into_response(),
    }
    let Ok(_permit) = api.in_flight.try_acquire() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many requests in flight; retry shortly",
        )
        .into_response();
    };
    next.run(request).await
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
}

async fn metrics_text(State(api): State<Arc<Api>>) -> Response {
    let (published, lost) = api.hub.totals();
    let clients = api.hub.clients() as f64;
    let body = api.metrics.render(
        &api.runtime,
        &[
            ("tandem_api_event_clients", "WebSocket event clients connected.", "gauge", clients),
            ("tandem_api_events_total", "API events published.", "counter", published as f64),
            ("tandem_api_events_lost_total", "API events dropped from full client queues (each reported to its client as EventsLost).", "counter", lost as f64),
        ],
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The router, every route of [`openapi::ROUTES`].
pub fn router(api: Arc<Api>) -> Router {
    let max_body = api.settings.max_body_bytes;
    Router::new()
        .route("/openapi.json", get(openapi::serve))
        .route("/metrics", get(metrics_text))
        .route("/channels", get(channels::list).post(channels::create))
        .route(
            "/channels/{id}",
            get(channels::get_one).delete(channels::destroy),
        )
        .route("/channels/{id}/dtmf", post(channels::dtmf))
        .route("/channels/{id}/play", post(playbacks::play))
        .route(
            "/channels/{id}/mute",
            post(channels::mute).delete(channels::unmute),
        )
        .route(
            "/channels/{id}/talk_detect",
            post(channels::talk_detect_on).delete(channels::talk_detect_off),
        )
        .route(
            "/channels/{id}/record",
            post(recordings::record).delete(recordings::stop_channel),
        )
        .route("/recordings", get(recordings::list))
        .route(
            "/recordings/{name}",
            get(recordings::get_one).delete(recordings::delete),
        )
        .route("/recordings/{name}/file", get(recordings::file))
        .route("/recordings/{name}/stop", post(recordings::stop))
        .route(
            "/recordings/{name}/pause",
            post(recordings::pause).delete(recordings::unpause),
        )
        .route("/bridges", get(bridges::list).post(bridges::create))
        .route(
            "/bridges/{id}",
            get(bridges::get_one).delete(bridges::destroy),
        )
        .route("/bridges/{id}/addChannel", post(bridges::add_channel))
        .route("/bridges/{id}/removeChannel", post(bridges::remove_channel))
        .route("/playbacks", get(playbacks::list))
        .route(
            "/playbacks/{id}",
            get(playbacks::get_one).delete(playbacks::stop),
        )
        .route("/events", get(events_socket))
        .route("/events/user/{name}", post(user_event))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&api), guard))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(api)
}

async fn events_socket(
    State(api): State<Arc<Api>>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: axum::extract::WebSocketUpgrade,
) -> Response {
    let app = query.get("app").filter(|a| !a.is_empty()).cloned();
    let subscription = api.hub.subscribe(app);
    upgrade.on_upgrade(move |socket| events::serve_client(socket, subscription))
}

async fn user_event(
    State(api): State<Arc<Api>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let Some(app) = query.get("application").filter(|a| !a.is_empty()) else {
        return Err(ApiError::bad_request(
            "the `application` query parameter names the application the event is for",
        ));
    };
    let variables = if body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?
    };
    api.hub.publish(
        Some(app),
        serde_json::json!({"type": "UserEvent", "eventname": name, "userevent": variables}),
    );
    Ok(StatusCode::NO_CONTENT)
}

/// Serves the API on `listener` until `stop` resolves.
///
/// # Errors
///
/// The server's I/O error.
pub async fn serve(
    api: Arc<Api>,
    listener: TcpListener,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(api).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await
}
