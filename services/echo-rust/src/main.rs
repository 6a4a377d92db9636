//! echo-rust: signs every echoed payload with the service's secp256k1 key.
//!
//! Same wire format and behaviour as echo-cpp; see services/README.md.

mod ffi;
mod key_store;
mod protocol;
mod server;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::exit;
use std::sync::Arc;

const USAGE: &str = "usage: echo-rust --listen HOST:PORT --state-dir DIR --public-key-file FILE
                 [--max-connections N]
       echo-rust --help | --version
";

const HELP: &str = "
Cairn echo service: answers each request line `<request-id> <payload>` with
`OK <request-id> <hex payload> <hex signature>`, signed with the service's own
secp256k1 key (protocol: services/README.md in the Cairn repository).

options:
  --listen HOST:PORT       TCP address, or [IPV6]:PORT; port 0 picks a free port.
                           Prints `listening on ADDRESS:PORT` once it listens.
  --state-dir DIR          holds signing.key; created (mode 0700, new key) if missing
  --public-key-file FILE   written at start: the public key as SEC1 compressed hex
  --max-connections N      concurrent connections, 1-4096 (default 64)
  -h, --help               show this help and exit
  --version                print the version and exit

Exit status: 2 usage error, 1 cannot start (reason on stderr). Stops on SIGTERM.
Try it: printf 'req-1 hello\\n' | nc -N 127.0.0.1 PORT
";

/// `echo-rust --version`: the package version in Cargo.toml (the only place it is written).
const VERSION: &str = env!("CARGO_PKG_VERSION");

struct Options {
    listen: String,
    state_dir: PathBuf,
    public_key_file: PathBuf,
    max_connections: usize,
}

fn usage_error(message: &str) -> ! {
    eprint!("echo-rust: {message}\n{USAGE}");
    exit(2);
}

fn parse_options(args: Vec<OsString>) -> Options {
    let mut listen = None;
    let mut state_dir = None;
    let mut public_key_file = None;
    let mut max_connections = server::DEFAULT_MAX_CONNECTIONS;
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let flag = flag.to_string_lossy().into_owned();
        if flag == "--help" || flag == "-h" {
            print!("{USAGE}{HELP}");
            exit(0);
        }
        if flag == "--version" {
            println!("echo-rust {VERSION}");
            exit(0);
        }
        let value = match args.next() {
            Some(value) => value,
            None => usage_error(&format!("missing value for {flag}")),
        };
        match flag.as_str() {
            "--listen" => match value.into_string() {
                Ok(text) => listen = Some(text),
                Err(_) => usage_error("--listen must be text"),
            },
            "--state-dir" => state_dir = Some(PathBuf::from(value)),
            "--public-key-file" => public_key_file = Some(PathBuf::from(value)),
            "--max-connections" => {
                let text = value.to_string_lossy();
                max_connections = match text.parse::<usize>() {
                    Ok(n)
                        if (1..=4096).contains(&n) && text.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        n
                    }
                    _ => usage_error("--max-connections must be a number from 1 to 4096"),
                };
            }
            _ => usage_error(&format!("unknown option {flag}")),
        }
    }
    match (listen, state_dir, public_key_file) {
        (Some(listen), Some(state_dir), Some(public_key_file))
            if !listen.is_empty()
                && !state_dir.as_os_str().is_empty()
                && !public_key_file.as_os_str().is_empty() =>
        {
            Options {
                listen,
                state_dir,
                public_key_file,
                max_connections,
            }
        }
        _ => usage_error("--listen, --state-dir and --public-key-file are required"),
    }
}

fn run(options: &Options, address: &server::ListenAddress) -> Result<(), String> {
    let mut secret = key_store::load_or_create_signing_key(&options.state_dir)?;
    let signer = ffi::Signer::new(&secret).map_err(|error| error.to_string());
    ffi::cleanse(&mut secret);
    let signer = Arc::new(signer?);
    key_store::write_public_key_file(&options.public_key_file, signer.public_key())?;
    server::serve(address, signer, options.max_connections)
}

fn main() {
    let options = parse_options(std::env::args_os().skip(1).collect());
    let address = match server::parse_listen_address(&options.listen) {
        Some(address) => address,
        None => usage_error(&format!(
            "--listen must be HOST:PORT or [IPV6]:PORT, not '{}'",
            options.listen
        )),
    };
    if let Err(message) = run(&options, &address) {
        eprintln!("echo-rust: error: {message}");
        exit(1);
    }
}
