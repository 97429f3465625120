//! The baseline of `bare_proxy.rs` on mimalloc, the gateway's allocator, so that the gateway's
//! overhead can be read both ways: against bare Pingora as it comes (glibc's malloc) and
//! against bare Pingora on the same allocator (`bench/instructions.sh` counts both).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "bare_proxy.rs"]
mod bare_proxy;

fn main() {
    bare_proxy::main();
}
