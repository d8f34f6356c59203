fn main() -> std::process::ExitCode {
    let opts = vinyl::args::parse::<vinyl::preroll::Opts>();
    vinyl::cli::main("vinyl-preroll", vinyl::preroll::run(opts))
}
