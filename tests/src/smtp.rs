//! A real SMTP server on loopback for the tests (mailin-embedded). It takes
//! every recipient except those whose address starts with `reject`, which it
//! refuses with 550, and keeps every message it receives.

use std::io;
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};

use mailin_embedded::response::{NO_MAILBOX, OK};
use mailin_embedded::{Handler, Response, Server, SslConfig};

/// One message as the server received it.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Clone)]
struct Collector {
    inbox: Arc<Mutex<Vec<Received>>>,
    current: Received,
}

impl Handler for Collector {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        if to.trim_start_matches('<').starts_with("reject") { NO_MAILBOX } else { OK }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Received { from: from.to_owned(), to: to.to_vec(), data: String::new() };
        OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.current.data.push_str(&String::from_utf8_lossy(buf));
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.inbox.lock().expect("inbox").push(std::mem::take(&mut self.current));
        OK
    }
}

/// A running server; it stops with the test process.
pub struct SmtpServer {
    /// `smtp://127.0.0.1:<port>`, for the relay setting.
    pub url: String,
    inbox: Arc<Mutex<Vec<Received>>>,
}

impl SmtpServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let mut server = Server::new(Collector { inbox: inbox.clone(), current: Received::default() });
        server.with_name("relay.test").with_ssl(SslConfig::None).expect("no TLS").with_tcp_listener(listener);
        std::thread::spawn(move || {
            if let Err(e) = server.serve() {
                eprintln!("the test SMTP server stopped: {e}");
            }
        });
        Self { url: format!("smtp://127.0.0.1:{port}"), inbox }
    }

    /// The messages received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inbox.lock().expect("inbox").clone()
    }
}
