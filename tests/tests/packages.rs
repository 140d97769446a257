//! Firma's Debian packages (`scripts/build-packages.sh`, into
//! `target/debian/`) installed with `dpkg -i` as a citizen's machine would,
//! then, with no path given: p11-kit lists Firma's module,
//! `pkcs11-tool` through `p11-kit-proxy.so` shows the rig's virtual card,
//! `firma-pkcs11-register` finds the installed module and registers it in
//! the user's NSS database, where tstclnt logs in to a card the station
//! activated and authenticates over TLS with it, `firma-portal` runs; and
//! `dpkg -r`
//! leaves no file of theirs behind.
//!
//! The machine is not changed: dpkg runs in a chroot onto an overlay of
//! `/` in a mount namespace of its own, whose upper layer is a tmpfs that
//! goes away with it (and that shows exactly what the packages left).
//! Needs root (mounts, chroot) and the built packages; without either it
//! says why and does nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use firma_tests::station::StationDir;
use firma_tests::{CardOptions, Pcscd};

fn debs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debian");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "deb"))
                .collect()
        })
        .unwrap_or_default();
    debs.sort();
    debs
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

const PIN: &str = "281947";
/// The card's PIV Authentication certificate as NSS names it: the token's
/// label (the holder's name cut to PKCS#11's 32 bytes), then the object's.
const NICKNAME: &str = "GARCÍA LÓPEZ ANA - 12345678Z:Certificate for PIV Authentication";

/// `openssl s_server` on loopback asking for a client certificate of `ca`,
/// answering one connection with its page; stopped when dropped.
struct TlsServer {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl TlsServer {
    fn start(ca: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        firma_tests::ok(Command::new("openssl").current_dir(d).args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "srv.key",
            "-out",
            "srv.pem",
        ]));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("openssl")
            .current_dir(d)
            .args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-naccept",
                "1",
            ])
            .args([
                "-www", "-Verify", "1", "-cert", "srv.pem", "-key", "srv.key", "-CAfile",
            ])
            .arg(ca)
            .stdout(std::fs::File::create(d.join("out")).unwrap())
            .stderr(std::fs::File::create(d.join("err")).unwrap())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while !firma_tests::listening(port) && start.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        TlsServer { child, port, dir }
    }

    fn log(&self) -> String {
        ["out", "err"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PACKAGES: &str = "firma-card firma-station firma-ca firma-portal firma-pkcs11";

#[test]
fn packages_install_work_without_paths_and_remove_cleanly() {
    if !is_root() {
        eprintln!("skipped: installing packages needs root (mounts and a chroot)");
        return;
    }
    let debs = debs();
    if debs.len() < 5 {
        eprintln!("skipped: no packages in target/debian: build them with scripts/build-packages.sh (scripts/test.sh does)");
        return;
    }
    let rig = Pcscd::start().expect("rig");
    let _card = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(5151),
                ..Default::default()
            },
        )
        .unwrap();
    // The card as a PRU gives it (the workspace's station, outside the
    // chroot), for a TLS client authentication through the installed
    // module: a server that asks for a certificate of the station's CA.
    let st = StationDir::new();
    st.import_csv(
        &rig,
        "given_name,surnames,nif,email,phone,card_serial\n\
         Ana,García López,12345678Z,ana@example.es,+34600111222,5151\n",
    )
    .ok();
    st.identity(&rig, "12345678Z");
    st.activate(&rig, "12345678Z", PIN).ok();
    let server = TlsServer::start(&st.ca().join("ca.pem"));
    // In /tmp: the chroot sees the host's /tmp (and the rig's socket there).
    let work = tempfile::Builder::new()
        .prefix("firma-packages-")
        .tempdir_in("/tmp")
        .unwrap();
    let w = work.path();
    for deb in &debs {
        std::fs::copy(deb, w.join(deb.file_name().unwrap())).unwrap();
    }
    std::fs::create_dir(w.join("home")).unwrap();
    let inside = format!(
        r#"set -eu
cd {w}
dpkg -i *.deb > dpkg-install.log 2>&1
dpkg -L {PACKAGES} > listed
p11-kit list-modules > modules 2>&1
pkcs11-tool --module /usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)/p11-kit-proxy.so -L > slots 2>&1
HOME={w}/home firma-pkcs11-register install > register 2>&1
# tstclnt keeps reading its closed stdin after the answer: timeout ends it.
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 tstclnt -4 -h 127.0.0.1 -p {port} \
  -d sql:{w}/home/.pki/nssdb -n '{nickname}' -w {PIN} -o > tls 2>&1 || true
HOME={w}/home firma-pkcs11-register uninstall >> register 2>&1
firma-portal --help > portal-help 2>&1
dpkg -r {PACKAGES} > dpkg-remove.log 2>&1
p11-kit list-modules > modules-after 2>&1
while read -r f; do
  if [ -e "$f" ] && [ ! -d "$f" ]; then echo "$f"; fi
done < listed > left
"#,
        w = w.display(),
        port = server.port,
        nickname = NICKNAME,
    );
    let outside = format!(
        r#"set -eu
ov={w}/overlay
mkdir -p $ov
mount -t tmpfs firma-packages $ov
mkdir $ov/upper $ov/work $ov/root
mount -t overlay overlay -o lowerdir=/,upperdir=$ov/upper,workdir=$ov/work $ov/root
mount --rbind /proc $ov/root/proc
mount --rbind /dev $ov/root/dev
mount --rbind /sys $ov/root/sys
mount --bind /tmp $ov/root/tmp
chroot $ov/root /bin/sh -c '{inside}'
# What the packages changed and left: everything in the upper layer but
# dpkg's own records and logs, and the tmpfs-backed /tmp.
cd $ov/upper
find . -mindepth 1 \( -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache -o -path ./tmp \) -prune -o -print |
  while read -r p; do
    if [ ! -e "/$p" ] && [ ! -c "$p" ]; then echo "${{p#.}}"; fi
  done > {w}/new-files
"#,
        w = w.display(),
        inside = inside.replace('\'', r"'\''"),
    );
    let out = rig
        .command("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &outside])
        .output()
        .unwrap();
    let read = |name: &str| std::fs::read_to_string(w.join(name)).unwrap_or_default();
    assert!(
        out.status.success(),
        "{}{}\ninstall: {}\nremove: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        read("dpkg-install.log"),
        read("dpkg-remove.log")
    );
    let listed = read("listed");
    for f in [
        "/usr/lib/x86_64-linux-gnu/pkcs11/libfirma_pkcs11.so",
        "/usr/share/p11-kit/modules/firma.module",
        "/usr/bin/firma-pkcs11-register",
        "/usr/bin/firma-station",
        "/usr/share/applications/firma-station.desktop",
        "/usr/bin/firma-card",
        "/usr/share/applications/firma-card.desktop",
        "/usr/bin/firma-ca",
        "/usr/bin/firma-portal",
        "/usr/share/doc/firma-portal/examples/firma-portal.service",
    ] {
        assert!(
            listed.lines().any(|l| l == f),
            "{f} not installed:\n{listed}"
        );
    }
    // The portal runs from the package, and says how to reach a CA.
    let help = read("portal-help");
    assert!(
        help.contains("--area-listen") && help.contains("--ca-url"),
        "{help}"
    );
    // NSS, with the module the package installed and registered into the
    // user's database by firma-pkcs11-register, logs in to the card and
    // authenticates to a server that verified the card's certificate.
    let tls = read("tls");
    let seen = server.log();
    assert!(
        tls.contains("Client certificate") && seen.contains("12345678Z"),
        "tstclnt: {tls}\nserver: {seen}"
    );
    let modules = read("modules");
    assert!(
        modules.lines().any(|l| l == "firma: libfirma_pkcs11.so")
            && modules.contains("token: GARCÍA LÓPEZ ANA - 12345678Z"),
        "{modules}"
    );
    let slots = read("slots");
    assert!(
        slots.contains(&rig.reader(0)) && slots.contains("GARCÍA LÓPEZ ANA - 12345678Z"),
        "the virtual card's token through p11-kit-proxy:\n{slots}"
    );
    let register = read("register");
    assert!(
        register.contains("/.pki/nssdb (registered)") && register.contains("(removed)"),
        "{register}"
    );
    assert!(
        !read("modules-after").contains("firma: "),
        "{}",
        read("modules-after")
    );
    assert_eq!(read("left"), "", "files of the packages left after dpkg -r");
    assert_eq!(read("new-files"), "", "new files left after dpkg -r");
}
