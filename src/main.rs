//! argv → cli → commands; errors become one clear line and Docker's exit codes.

use clap::Parser;

fn main() {
    // runc's command line: invoked as `hako-runc` (or `runc`), or as `hako runc …`.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let as_runc = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n.to_string_lossy().ends_with("runc"));
    if as_runc || argv.get(1).is_some_and(|a| a == "runc") {
        let runc_argv = if as_runc { &argv[..] } else { &argv[1..] };
        let cli = hako::cli::RuncCli::parse_from(runc_argv);
        // A container made here runs on without any hako process: from a read-only view
        // of the binary, its processes can never write to it (CVE-2019-5736).
        use hako::cli::RuncCommand::{Create, Exec, Run};
        if matches!(cli.args.command, Create(_) | Run { .. } | Exec { .. }) {
            if let Err(e) = hako::launcher::sealed_exe::reexec_protected() {
                eprintln!("hako-runc: re-execute from a read-only view of the binary (the CVE-2019-5736 defence): {e}");
                std::process::exit(1);
            }
        }
        let code = match hako::commands::runc::runc(cli.args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("hako-runc: {}", hako::exit::describe(&e));
                1
            }
        };
        std::process::exit(code);
    }
    let cli = match hako::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let shown = matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            );
            if shown {
                let _ = e.print();
                std::process::exit(0);
            }
            // Docker's habit: one line naming what was wrong, and exit 125.
            eprintln!("{}", hako::cli::describe_usage_error(&e));
            std::process::exit(125);
        }
    };
    match cli.trace.as_deref() {
        Some("json") => hako::trace::enable(hako::trace::Mode::Json),
        Some(_) => hako::trace::enable(hako::trace::Mode::Text),
        None => {}
    }
    let code = match hako::commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hako: {}", hako::exit::describe(&e));
            hako::exit::exit_code_for(&e)
        }
    };
    std::process::exit(code);
}
