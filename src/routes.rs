//! Routing: request path and method to a handler, with Connaisseur's exact texts for wrong
//! methods and content types.
//!
//! `/health` and `/ready` are probes and are not recorded in the HTTP metrics (as in
//! Connaisseur 2.x); every other route is recorded under a fixed path label, never the raw
//! path, so clients cannot create unbounded series.

use std::sync::Arc;

use crate::admission::Admission;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::metrics::{self, RoutePath};
use crate::net::workers::Job;

/// The only content type `/mutate` accepts (exactly, parameters included, as Connaisseur).
const JSON: &str = "application/json";

/// How a request is answered: now, or by a worker (outbound I/O).
pub enum Outcome {
    Ready(Response),
    Deferred(Job<Response>),
}

/// A routed request: its outcome and the path label it is recorded under, if any.
pub struct Routed {
    pub metrics_path: Option<RoutePath>,
    pub outcome: Outcome,
}

/// The webhook's routes.
pub struct Router {
    admission: Arc<Admission>,
    draining: bool,
}

impl Router {
    pub fn new(admission: Arc<Admission>) -> Router {
        Router {
            admission,
            draining: false,
        }
    }

    /// Puts a reloaded engine in force: the next request uses it, requests already with a
    /// worker finish with the engine they started with.
    pub fn set_admission(&mut self, admission: Arc<Admission>) {
        self.admission = admission;
    }

    pub fn admission(&self) -> &Arc<Admission> {
        &self.admission
    }

    /// From now on `/ready` answers 503, so the endpoint is taken out of the service.
    pub fn set_draining(&mut self) {
        self.draining = true;
    }

    pub fn route(&self, req: Request) -> Routed {
        match req.path.as_str() {
            "/health" => probe(&req, true),
            "/ready" => probe(&req, !self.draining),
            "/metrics" => recorded(RoutePath::Metrics, metrics_page(&req)),
            "/mutate" => {
                metrics::global().mutate_called();
                Routed {
                    metrics_path: Some(RoutePath::Mutate),
                    outcome: self.mutate(req),
                }
            }
            _ => recorded(RoutePath::Other, Response::text(404, "404 page not found")),
        }
    }

    fn mutate(&self, req: Request) -> Outcome {
        if req.method != "POST" {
            let message = format!("Method not allowed.: {}", req.method);
            return Outcome::Ready(Response::text(405, &message));
        }
        let content_type = req.content_type.as_deref().unwrap_or("");
        if content_type != JSON {
            let message = format!("wrong content type: expected json, got {content_type}");
            return Outcome::Ready(Response::text(400, &message));
        }
        if !self.admission.needs_worker() {
            return Outcome::Ready(mutate_answer(&self.admission, &req.body));
        }
        let admission = Arc::clone(&self.admission);
        let body = req.body;
        Outcome::Deferred(Box::new(move || mutate_answer(&admission, &body)))
    }
}

fn mutate_answer(admission: &Admission, body: &[u8]) -> Response {
    let reply = admission.handle(body);
    Response {
        status: reply.status,
        content_type: Some(if reply.json {
            JSON
        } else {
            "text/plain; charset=utf-8"
        }),
        body: reply.body,
    }
}

fn recorded(path: RoutePath, resp: Response) -> Routed {
    Routed {
        metrics_path: Some(path),
        outcome: Outcome::Ready(resp),
    }
}

fn probe(req: &Request, up: bool) -> Routed {
    let resp = if req.method != "GET" {
        Response::text(405, "Method not allowed.")
    } else if up {
        Response::empty(200)
    } else {
        Response::empty(503)
    };
    Routed {
        metrics_path: None,
        outcome: Outcome::Ready(resp),
    }
}

fn metrics_page(req: &Request) -> Response {
    if req.method != "GET" {
        return Response::text(405, "Method not allowed.");
    }
    let mut text = String::with_capacity(16 * 1024);
    metrics::global().render(&mut text);
    Response {
        status: 200,
        content_type: Some(metrics::CONTENT_TYPE),
        body: text.into_bytes(),
    }
}
