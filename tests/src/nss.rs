//! NSS, the library inside Firefox and Chrome, with Firma's module: a
//! database with the module registered, and TLS client authentication the
//! way a browser does it (tstclnt against `openssl s_server -Verify 1`).

use std::path::Path;
use std::process::Command;

use crate::{firma_module, ok, Pcscd};

/// Registers Firma's module in a fresh NSS database in `dir`; its `sql:` path.
pub fn db(rig: &Pcscd, dir: &Path) -> String {
    let dbarg = format!("sql:{}", dir.display());
    ok(Command::new("certutil").args(["-N", "-d", &dbarg, "--empty-password"]));
    ok(rig.command("modutil").args([
        "-force",
        "-dbdir",
        &dbarg,
        "-add",
        "Firma",
        "-libfile",
        &firma_module(),
    ]));
    dbarg
}

/// tstclnt logs in with `pin` and authenticates with the certificate
/// `nickname` (token:label) over TLS 1.2 and 1.3; the server, trusting
/// `ca`, must log `server_saw` (its verification of the client's
/// certificate) and send its page.
pub fn assert_tls_client_auth(rig: &Pcscd, ca: &Path, nickname: &str, pin: &str, server_saw: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("db");
    std::fs::create_dir(&db_dir).unwrap();
    let dbarg = db(rig, &db_dir);
    let (srv_key, srv_cert) = (dir.path().join("srv.key"), dir.path().join("srv.pem"));
    ok(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&srv_key)
        .arg("-out")
        .arg(&srv_cert));
    for (server_version, client_range) in
        [("-tls1_2", "tls1.2:tls1.2"), ("-tls1_3", "tls1.3:tls1.3")]
    {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.path().join(format!("server{server_version}.log"));
        let mut server = Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-naccept",
                "1",
                "-www",
                "-Verify",
                "1",
                server_version,
                "-CAfile",
            ])
            .arg(ca)
            .arg("-cert")
            .arg(&srv_cert)
            .arg("-key")
            .arg(&srv_key)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(
                std::fs::File::create(dir.path().join(format!("server{server_version}.err")))
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while !crate::listening(port) && start.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let page = tls_get(
            rig,
            &dbarg,
            port,
            nickname,
            pin,
            client_range,
            "GET / HTTP/1.0\r\n\r\n",
            "</HTML>",
        );
        let _ = server.kill();
        let _ = server.wait();
        let server_log = std::fs::read_to_string(&log).unwrap_or_default()
            + &std::fs::read_to_string(dir.path().join(format!("server{server_version}.err")))
                .unwrap_or_default();
        // The server verified the card's certificate against the CA, and its
        // page shows the client certificate it received.
        assert!(
            server_log.contains(server_saw) && page.contains("Client certificate"),
            "{server_version}: tstclnt: {page}\nserver: {server_log}"
        );
    }
}

/// What tstclnt, with the NSS database `dbarg` (Firma's module in it),
/// logged in with `pin` and authenticating with `nickname` over the TLS
/// versions `range` (e.g. `tls1.2:tls1.3`), gets for `request` from
/// 127.0.0.1:`port`, read until `end` appears (or 30 s). The server's
/// certificate is not checked (`-o`).
#[allow(clippy::too_many_arguments)]
pub fn tls_get(
    rig: &Pcscd,
    dbarg: &str,
    port: u16,
    nickname: &str,
    pin: &str,
    range: &str,
    request: &str,
    end: &str,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let client_log = dir.path().join("client.log");
    let mut client = rig
        .command("tstclnt")
        .args([
            "-4",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-d",
            dbarg,
            "-n",
            nickname,
            "-w",
            pin,
            "-o",
            "-V",
            range,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::fs::File::create(&client_log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    client
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    // tstclnt keeps polling its closed stdin after the answer, so it is
    // stopped once the server's page has arrived.
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(&client_log)
        .unwrap_or_default()
        .contains(end)
        && start.elapsed() < std::time::Duration::from_secs(30)
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = client.kill();
    let _ = client.wait();
    String::from_utf8_lossy(&std::fs::read(&client_log).unwrap()).to_string()
}
