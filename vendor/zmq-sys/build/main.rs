pub fn configure() {
    println!("cargo:rerun-if-changed=build/main.rs");
    println!("cargo:rerun-if-env-changed=PROFILE");

    // Patched for crimpl-kernel (see vendor/README.md): the published crate
    // passes `None` here, so its libzmq has no CURVE. CURVE needs libsodium
    // (zeromq-src leaves out the unaudited tweetnacl): the system's, found
    // with pkg-config (Debian and Ubuntu: libsodium-dev), linked statically.
    let location = pkg_config::get_variable("libsodium", "libdir")
        .and_then(|lib| Ok((lib, pkg_config::get_variable("libsodium", "includedir")?)))
        .unwrap_or_else(|err| {
            panic!(
                "libzmq's CURVE needs libsodium: install libsodium-dev (pkg-config libsodium failed: {})",
                err
            )
        });
    // zeromq-src prints the library's directory quoted ({:?}), which the linker cannot use.
    println!("cargo:rustc-link-search=native={}", location.0);
    zeromq_src::Build::new()
        .with_libsodium(Some(zeromq_src::LibLocation::new(location.0, location.1)))
        .build();
}

fn main() {
    configure()
}
