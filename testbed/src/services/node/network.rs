//! The real node's network: one Linux bridge the test bed creates, with the host's address on it, and pods on
//! it in their own network namespaces (the CNI `bridge` plugin, configured by [`cni_config`]). Kafka, S3, the
//! registry and the API server listen on the host's bridge address, so pods reach them directly and host
//! processes reach them as a local address.
//!
//! Nothing leaves the machine: the CNI plugin turns on IP forwarding (a pod reaching another pod through a
//! Service is routed by the host), so [`create`] also installs an nftables table that drops every forwarded
//! packet entering or leaving the bridge from or to another interface.
//!
//! The bridge name and subnet are fixed, so one real node runs per machine at a time ([`NodeLock`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::TestBedError;
use crate::install::run;

/// The bridge the pods' veth pairs attach to.
pub const BRIDGE: &str = "sluice0";
/// The host's address on the bridge: the pods' gateway, and where every service of the test bed listens.
pub const HOST_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 213, 0, 1));
/// The pod subnet (on the bridge); pods get addresses from `.10` on.
pub const POD_CIDR: &str = "10.213.0.0/24";
/// The nftables table (family `inet`) that keeps pod traffic on the machine.
const GUARD_TABLE: &str = "sluice_node_guard";
const LOCK_FILE: &str = "/run/sluice-node.lock";

/// Held while a real node runs: the bridge, its subnet and the kubelet's cgroups are machine-wide. The lock
/// file also names the node directory of its last holder, so the next node can clean up after one that was
/// killed before its own teardown ran.
#[derive(Debug)]
pub struct NodeLock {
    _file: File,
    previous: Option<PathBuf>,
}

impl NodeLock {
    /// Takes the machine-wide lock for a node living in `node_dir`, or fails at once if another node runs.
    pub fn acquire(node_dir: &Path) -> Result<NodeLock, TestBedError> {
        let mut file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(LOCK_FILE)
            .map_err(TestBedError::io(format!("opening {LOCK_FILE}")))?;
        file.try_lock().map_err(|_| {
            TestBedError::Env(format!(
                "another real node runs on this machine (a process holds {LOCK_FILE}); wait for its test \
                 to finish or stop it"
            ))
        })?;
        let mut previous = String::new();
        file.read_to_string(&mut previous)
            .map_err(TestBedError::io(format!("reading {LOCK_FILE}")))?;
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
            .and_then(|()| file.write_all(node_dir.display().to_string().as_bytes()))
            .map_err(TestBedError::io(format!("writing {LOCK_FILE}")))?;
        let previous = Some(PathBuf::from(previous.trim()))
            .filter(|p| !p.as_os_str().is_empty() && p.as_path() != node_dir);
        Ok(NodeLock {
            _file: file,
            previous,
        })
    }

    /// The node directory of the previous holder, if it was another one.
    pub fn previous_node_dir(&self) -> Option<&Path> {
        self.previous.as_deref()
    }
}

/// Creates the bridge with the host's address (idempotent) and the forwarding guard, whose nftables script is
/// written into `dir`. Needs root.
pub fn create(dir: &Path) -> Result<(), TestBedError> {
    let exists = Path::new("/sys/class/net").join(BRIDGE).exists();
    if !exists {
        run(command("ip", &["link", "add", BRIDGE, "type", "bridge"]))?;
    }
    run(command(
        "ip",
        &["addr", "replace", &format!("{HOST_IP}/24"), "dev", BRIDGE],
    ))?;
    run(command("ip", &["link", "set", BRIDGE, "up"]))?;
    let guard = format!(
        "table inet {GUARD_TABLE} {{\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tiifname \"{BRIDGE}\" oifname != \"{BRIDGE}\" drop\n\
         \t\toifname \"{BRIDGE}\" iifname != \"{BRIDGE}\" drop\n\
         \t}}\n\
         }}\n"
    );
    let script = dir.join("guard.nft");
    std::fs::write(&script, guard)
        .map_err(TestBedError::io(format!("writing {}", script.display())))?;
    // Replaced as a whole, so a leftover table from a killed run never doubles the rules.
    let _ = run(command("nft", &["delete", "table", "inet", GUARD_TABLE]));
    let mut nft = Command::new("nft");
    nft.arg("-f").arg(&script);
    run(nft)
}

/// Removes the bridge, the guard and kube-proxy's tables. Errors are ignored: this also cleans up after a
/// killed run, when some of them are already gone.
pub fn remove() {
    let _ = run(command("ip", &["link", "delete", BRIDGE]));
    let _ = run(command("nft", &["delete", "table", "inet", GUARD_TABLE]));
    for family in ["ip", "ip6"] {
        let _ = run(command("nft", &["delete", "table", family, "kube-proxy"]));
    }
    remove_kubelet_chains();
}

/// The kubelet's own iptables chains (it creates them in every mode): jumps first, then the chains. Only
/// these named chains are touched, never a table, which other software on the machine may use.
fn remove_kubelet_chains() {
    for iptables in ["iptables", "ip6tables"] {
        for hook in ["INPUT", "OUTPUT"] {
            let _ = run(command(
                iptables,
                &["-t", "filter", "-D", hook, "-j", "KUBE-FIREWALL"],
            ));
        }
        for (table, chain) in [
            ("filter", "KUBE-FIREWALL"),
            ("filter", "KUBE-KUBELET-CANARY"),
            ("nat", "KUBE-KUBELET-CANARY"),
            ("mangle", "KUBE-KUBELET-CANARY"),
            ("mangle", "KUBE-IPTABLES-HINT"),
        ] {
            let _ = run(command(iptables, &["-t", table, "-F", chain]));
            let _ = run(command(iptables, &["-t", table, "-X", chain]));
        }
    }
}

fn command(program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd
}

/// The CNI network configuration: the `bridge` plugin on [`BRIDGE`] as the pods' gateway, `host-local`
/// addresses from `.10` on, its allocation state under `ipam_dir` (not the machine-wide /var/lib/cni).
pub fn cni_config(ipam_dir: &Path) -> String {
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "sluice",
        "plugins": [{
            "type": "bridge",
            "bridge": BRIDGE,
            "isGateway": true,
            "ipMasq": false,
            // A pod that reaches itself through a Service gets its packets back through the bridge port.
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "dataDir": ipam_dir,
                "ranges": [[{
                    "subnet": POD_CIDR,
                    "rangeStart": "10.213.0.10",
                    "gateway": HOST_IP.to_string(),
                }]],
                "routes": [{"dst": "0.0.0.0/0"}],
            },
        }],
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::cni_config;
    use std::path::Path;

    #[test]
    fn cni_config_names_the_bridge_the_range_and_the_private_ipam_dir() {
        let conf: serde_json::Value =
            serde_json::from_str(&cni_config(Path::new("/x/ipam"))).unwrap();
        let bridge = &conf["plugins"][0];
        assert_eq!(bridge["bridge"], "sluice0");
        assert_eq!(bridge["ipam"]["dataDir"], "/x/ipam");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["gateway"], "10.213.0.1");
        assert_eq!(bridge["ipMasq"], false);
    }
}
