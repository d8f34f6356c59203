use clap::Parser;

fn main() -> std::process::ExitCode {
    let opts = vinyl::web::Opts::parse();
    vinyl::cli::main("vinyl-web", vinyl::web::run(opts))
}
