//! argv → cli → commands; errors become one clear line and Docker's exit codes.

use clap::Parser;

fn main() {
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
            eprintln!("hako: {}", hako::commands::describe(&e));
            hako::commands::exit_code_for(&e)
        }
    };
    std::process::exit(code);
}
