fn main() -> std::process::ExitCode {
    let opts = vinyl::args::parse::<vinyl::oggicecast::Opts>();
    vinyl::cli::main("vinyl-ogg-icecast", vinyl::oggicecast::run(opts))
}
