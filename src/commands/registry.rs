//! `hako pull`, `push`, `login`, `logout`: Docker's output, the store and the registry
//! client joined up.

use crate::cli::{LoginArgs, PullArgs, PushArgs};
use crate::reference::Reference;
use crate::registry::auth::{self, Credentials};
use crate::registry::client::Client;
use crate::registry::config::RegistryConfig;
use crate::registry::progress::Progress;
use crate::registry::push;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, IsTerminal, Write};

pub fn pull(store: &Store, args: &PullArgs, registries: &RegistryConfig) -> Result<i32> {
    let reference: Reference = args.name.parse()?;
    crate::registry::ensure::pull_image(
        store,
        &reference,
        args.platform.as_deref(),
        registries,
        args.quiet,
    )?;
    println!("{}", reference.canonical());
    Ok(0)
}

pub fn push(store: &Store, args: &PushArgs, registries: &RegistryConfig) -> Result<i32> {
    let reference: Reference = args.name.parse()?;
    if reference.digest.is_some() {
        bail!("push {}: push takes a tag, not a digest", args.name);
    }
    let client = Client::new(&reference.registry, registries)?;
    let progress = Progress::new(args.quiet);
    let _writer = store.writer_guard()?;
    let pushed = push::push(store, &client, &reference, &progress)
        .with_context(|| format!("push {}", reference.familiar()))?;
    if args.quiet {
        println!("{}", pushed.digest);
    }
    store.collect_garbage()?;
    Ok(0)
}

fn server_or_default(server: Option<&str>) -> Result<String> {
    let s = server.unwrap_or(crate::reference::DEFAULT_REGISTRY);
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let s = s.strip_suffix("/v1").or(s.strip_suffix("/v2")).unwrap_or(s);
    if s == "index.docker.io" || s == "registry-1.docker.io" {
        return Ok(crate::reference::DEFAULT_REGISTRY.into());
    }
    if s.is_empty() || s.contains('/') {
        bail!("invalid registry {s:?}: give host[:port], e.g. localhost:5000");
    }
    Ok(s.to_string())
}

fn prompt(what: &str, hidden: bool) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("cannot ask for the {what}: STDIN is not a terminal; use --username and --password-stdin");
    }
    eprint!("{what}: ");
    std::io::stderr().flush()?;
    let stdin = std::io::stdin();
    let saved = if hidden {
        let t = nix::sys::termios::tcgetattr(&stdin)?;
        let mut quiet = t.clone();
        quiet
            .local_flags
            .remove(nix::sys::termios::LocalFlags::ECHO);
        nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &quiet)?;
        Some(t)
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &t)?;
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn login(args: &LoginArgs, registries: &RegistryConfig) -> Result<i32> {
    let server = server_or_default(args.server.as_deref())?;
    if args.password.is_some() && args.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    let username = match &args.username {
        Some(u) => u.clone(),
        None => prompt("Username", false)?,
    };
    let password = if args.password_stdin {
        let mut p = String::new();
        std::io::stdin().lock().read_line(&mut p)?;
        p.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(p) = &args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else {
        prompt("Password", true)?
    };
    if username.is_empty() || password.is_empty() {
        bail!("login needs a username and a password");
    }
    let creds = Credentials { username, password };
    // The credentials must open the registry's front door (and its token server).
    let client = Client::new(&server, registries)?.with_credentials(creds.clone());
    client
        .get("/v2/", &[], &[])
        .with_context(|| format!("log in to {server}"))?;
    auth::store(&server, Some(&creds))?;
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(server: Option<&str>) -> Result<i32> {
    let server = server_or_default(server)?;
    if auth::store(&server, None)? {
        println!("Removing login credentials for {}", auth::auth_key(&server));
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}
