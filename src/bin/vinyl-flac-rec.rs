fn main() -> std::process::ExitCode {
    let opts = vinyl::args::parse::<vinyl::flacrec::Opts>();
    vinyl::cli::main("vinyl-flac-rec", vinyl::flacrec::run(opts))
}
