fn main() -> std::process::ExitCode {
    streamscope::cli::main()
}
