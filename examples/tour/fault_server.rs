//! The in-process HTTP fault server one lane calls: the dependency, which follows the fault
//! script, and a healthy side service on a second port.
//!
//! The dependency counts every call that reaches it (every request it reads, and in the down
//! phase every connection it accepts and resets), per phase: that is the "dependency calls"
//! column, counted where the load lands rather than where it is sent.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, sleep, sleep_until};

use crate::script::{Fault, FaultDraws, PhaseKind, Script, WORK, WORKERS};

/// A running fault server: where to reach it, and what it has counted.
pub struct FaultServer {
    pub dependency: SocketAddr,
    pub side: SocketAddr,
    dependency_state: Arc<Dependency>,
}

impl FaultServer {
    /// Calls that reached the dependency, per phase of the script.
    pub fn calls_per_phase(&self) -> Vec<u64> {
        self.dependency_state
            .calls
            .iter()
            .map(|c| c.load(Relaxed))
            .collect()
    }
}

/// The dependency's state, shared by its connections.
struct Dependency {
    script: Arc<Script>,
    start: Instant,
    /// Calls that reached it, per phase.
    calls: Vec<AtomicU64>,
    /// Bumped to drop every open connection: when it goes down, and when a hang ends.
    kill: watch::Sender<u64>,
    workers: Semaphore,
    draws: Mutex<FaultDraws>,
    answered: AtomicU64,
}

/// Binds the dependency and the side service on `127.0.0.1:0`, and serves both until the
/// runtime shuts down.
pub async fn start(script: Arc<Script>, start: Instant) -> io::Result<FaultServer> {
    let dependency_listener = TcpListener::bind("127.0.0.1:0").await?;
    let side_listener = TcpListener::bind("127.0.0.1:0").await?;
    let state = Arc::new(Dependency {
        calls: script.phases.iter().map(|_| AtomicU64::new(0)).collect(),
        draws: Mutex::new(FaultDraws::new(script.seed)),
        script,
        start,
        kill: watch::Sender::new(0),
        workers: Semaphore::new(WORKERS),
        answered: AtomicU64::new(0),
    });
    let server = FaultServer {
        dependency: dependency_listener.local_addr()?,
        side: side_listener.local_addr()?,
        dependency_state: state.clone(),
    };
    tokio::spawn(direct(state.clone()));
    tokio::spawn(serve_dependency(dependency_listener, state));
    tokio::spawn(serve_side(side_listener));
    Ok(server)
}

/// Follows the script's phase changes that act on open connections.
async fn direct(state: Arc<Dependency>) {
    let mut previous = PhaseKind::Healthy;
    for phase in state.script.phases.clone() {
        sleep_until(state.start + phase.start).await;
        // Going down kills the live keep-alive connections too; a hang ends as a restart
        // would end it, resetting the connections it held.
        if phase.kind == PhaseKind::Down || previous == PhaseKind::Hung {
            state.kill.send_modify(|epoch| *epoch += 1);
        }
        previous = phase.kind;
    }
}

/// Prepares an accepted socket: no Nagle delays, and a reset (RST) rather than a graceful
/// close when the server drops it.
fn tune(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_zero_linger();
}

async fn serve_dependency(listener: TcpListener, state: Arc<Dependency>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, most likely: let connections close, then go on.
                sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        tune(&stream);
        let (index, kind) = state.phase_now();
        if kind == PhaseKind::Down {
            state.calls[index].fetch_add(1, Relaxed);
            drop(stream);
            continue;
        }
        let mut kill = state.kill.subscribe();
        let conn_state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                let state = conn_state.clone();
                async move { state.handle().await }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = kill.changed() => {}
            }
        });
    }
}

impl Dependency {
    fn phase_now(&self) -> (usize, PhaseKind) {
        let t = Instant::now().saturating_duration_since(self.start);
        let index = self.script.phase_index(t);
        (index, self.script.phases[index].kind)
    }

    async fn handle(&self) -> Result<Response<Full<Bytes>>, io::Error> {
        let (index, kind) = self.phase_now();
        self.calls[index].fetch_add(1, Relaxed);
        match kind {
            // Never answers: the connection is dropped when the hang ends.
            PhaseKind::Hung => std::future::pending().await,
            // A connection accepted just before the fall: an error makes hyper drop it.
            PhaseKind::Down => Err(io::Error::from(io::ErrorKind::ConnectionReset)),
            _ => {
                let fault = match self.draws.lock() {
                    Ok(mut draws) => draws.draw(kind),
                    Err(poisoned) => poisoned.into_inner().draw(kind),
                };
                {
                    let _worker = self.workers.acquire().await;
                    sleep(WORK).await;
                }
                match fault {
                    Fault::Unavailable => Ok(respond(StatusCode::SERVICE_UNAVAILABLE, "busy")),
                    Fault::Answer(extra) => {
                        if !extra.is_zero() {
                            sleep(extra).await;
                        }
                        let n = self.answered.fetch_add(1, Relaxed);
                        Ok(respond(StatusCode::OK, (1000 + n % 100).to_string()))
                    }
                }
            }
        }
    }
}

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

/// The healthy side service: answers at once, in every phase.
async fn serve_side(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        tune(&stream);
        tokio::spawn(async move {
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(respond(StatusCode::OK, "ok"))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
