fn main() -> std::process::ExitCode {
    streamscope::cli::main()
}

/// glibc's allocator returned freed read buffers to the kernel and faulted them back in, and
/// contended on frees from the writer thread: ~10 % of a TLS download's CPU. mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
