//! Compiles the protocol definitions in `proto/` with protox (pure Rust), so building needs
//! no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["tfplugin5.proto", "grpc_controller.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        // RPCs we do not serve answer UNIMPLEMENTED, which every Terraform version tolerates.
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    // Talos apid (packages machine, storage, common, google.rpc): the lab serves it, and
    // `clients::talos` calls it. Each includes the generated code in its own `proto` module,
    // so the client never depends on the lab.
    let talos = protox::compile(
        ["machine/machine.proto", "storage/storage.proto"],
        ["proto/talos"],
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .generate_default_stubs(true)
        .compile_fds(talos)?;
    Ok(())
}
