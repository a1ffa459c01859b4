//! The committed C header must be what cbindgen generates from the current source.
//! Regenerate with `UPDATE_HEADER=1 cargo test -p ccp-datapath-ffi --test header`.

use std::path::Path;

#[test]
fn committed_header_is_fresh() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(cfg)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = dir.join("include/ccp_datapath.h");
    if std::env::var_os("UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write header");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/ccp_datapath.h is stale: run `UPDATE_HEADER=1 cargo test -p ccp-datapath-ffi --test header`"
    );
    // The header declares libccp's API.
    let text = String::from_utf8(generated).expect("utf-8");
    for f in [
        "int ccp_init(struct ccp_datapath *dp, uint32_t id)",
        "void ccp_free(struct ccp_datapath *dp)",
        "struct ccp_connection *ccp_connection_start(",
        "struct ccp_connection *ccp_connection_lookup(struct ccp_datapath *dp, uint32_t sid)",
        "void ccp_connection_free(struct ccp_datapath *dp, uint32_t sid)",
        "void *ccp_get_impl(struct ccp_connection *conn)",
        "int ccp_read_msg(struct ccp_datapath *dp, char *buf, int bufsize)",
        "int ccp_invoke(struct ccp_connection *conn)",
        "void *impl;",
        "char congAlg[MAX_CONG_ALG_SIZE];",
        "#define LIBCCP_FALLBACK_TIMED_OUT -101",
    ] {
        assert!(text.contains(f), "header lacks `{f}`");
    }
}
