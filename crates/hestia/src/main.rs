//! `hestia`: the IRSP server and its operator tools in one binary.

mod accounts;
mod bench;
mod demo;
mod serve;
mod shell;
mod simulate;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

// Routing allocates and frees an element per recipient on every worker thread; glibc's
// allocator spent ~15% of the server's CPU on that in the presence fan-out profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hestia — an IGRS remote-access platform (ISO/IEC 14543-5-8) for home devices.
#[derive(Debug, Parser)]
#[command(name = "hestia", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every command that needs the configuration accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Configuration file (TOML); HESTIA_<SECTION>_<SETTING> variables override it.
    #[arg(long, short = 'c', global = true)]
    config: Option<PathBuf>,
    /// Data directory (overrides server.data_dir).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn load(&self) -> anyhow::Result<hestia_server::Config> {
        let mut config = hestia_server::Config::load_from_process(self.config.as_deref())?;
        if let Some(d) = &self.data_dir {
            config.server.data_dir = d.clone();
        }
        Ok(config)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the IRSP: c2s on 5222 (STARTTLS) and 5223 (direct TLS), HTTP admin API and metrics.
    Serve(serve::ServeArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage user accounts through the admin API of a running server.
    #[command(subcommand)]
    User(accounts::UserCommand),
    /// Manage device accounts through the admin API of a running server.
    #[command(subcommand)]
    Device(accounts::DeviceCommand),
    /// A terminal client: log in as a user, list related devices, read and set properties,
    /// watch events, send messages.
    Shell(shell::ShellArgs),
    /// List or end sessions of a running server.
    #[command(subcommand)]
    Session(accounts::SessionCommand),
    /// Create a registration invitation token (for registration.policy = "invitation").
    Invite(accounts::InviteArgs),
    /// Send a server push (a notice) to an account, a user's devices, or every device of a type.
    Push(accounts::PushArgs),
    /// Print the conformance table (docs/conformance.md) generated from the code.
    Conformance,
    /// Load generator for Hestia, Prosody or ejabberd: login storm, idle connections, message
    /// routing and IQ round trips (see docs/benchmarks.md).
    Bench(bench::BenchArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the commented example configuration with every default.
    Example,
    /// Load and validate a configuration, reporting every problem.
    Check(ConfigArgs),
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line for people; the chain of causes after colons.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Config(ConfigCommand::Example) => {
            print!("{}", hestia_server::Config::example());
            Ok(())
        }
        Command::Config(ConfigCommand::Check(args)) => {
            args.load()?;
            println!("configuration is valid");
            Ok(())
        }
        Command::User(c) => accounts::user(c),
        Command::Device(c) => accounts::device(c),
        Command::Session(c) => accounts::session(c),
        Command::Shell(a) => shell::run(a),
        Command::Invite(a) => accounts::invite(a),
        Command::Push(a) => accounts::push(a),
        Command::Bench(a) => bench::run(a),
        Command::Conformance => {
            print!("{}", hestia_server::conformance::markdown());
            Ok(())
        }
    }
}
