//! The `ceph` commands that change the maps when a node leaves: `osd out`, `osd pool set` and
//! `osd pool get` for `size`/`min_size`, `config set|get mon_allow_pool_size_one`, and the
//! removals `pveceph` makes through librados (`osd crush remove` + `osd rm`, `mon remove`,
//! `osd pool delete`, a manager's `auth del`).
//!
//! Sources, `ceph/ceph` (the same text in `main` and the Squid/Tentacle branches):
//! - `src/mon/OSDMonitor.cc` `prepare_command_impl` ("osd out": `marked out osd.N. `,
//!   `osd.N is already out. `, `osd.N does not exist. `, all with status 0) and
//!   `prepare_command_pool_set` (`unrecognized pool 'x'` ENOENT; `size` 1..10, size 1 only with
//!   `mon_allow_pool_size_one` and `--yes-i-really-mean-it`; a new size resets min_size to
//!   `get_osd_pool_default_min_size`; `set pool ID VAR to VAL`).
//! - `src/common/cmdparse.cc` `parse_osd_id`, `src/common/strtol.cc` (id parse errors).
//! - `src/common/config.cc` `get_osd_pool_default_min_size`: `min(osd_pool_default_min_size,
//!   size)`, or `size - size / 2` when that option is 0.
//! - `src/ceph.in` `main`: the message (`outs`) goes to stderr, as `Error ENAME: …` with the
//!   errno as exit status on failure.
//!
//! Not modelled: `check_pg_num` when a size grows (the lab's pools stay far below
//! `mon_max_pg_per_osd`), pool variables other than `size` and `min_size`.

use super::ceph::Ceph;
use super::shell::Proc;

/// A monitor's refusal: the errno (as the CLI's exit status) and the message.
pub(crate) type MonError = (i32, String);

/// `EPERM`, `ENOENT`, `EINVAL` (Linux errno values, which the `ceph` CLI exits with).
pub(crate) const EPERM: i32 = 1;
pub(crate) const ENOENT: i32 = 2;
pub(crate) const EINVAL: i32 = 22;

/// The errno's name as Python's `errno.errorcode` gives it.
fn errno_name(e: i32) -> &'static str {
    match e {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        EINVAL => "EINVAL",
        _ => "Unknown",
    }
}

/// What the `ceph` CLI prints for a monitor reply: `outs` on stderr, as an error when `err`
/// is set (`src/ceph.in`); returns the exit status.
pub(crate) fn reply(p: &mut Proc, err: i32, outs: &str) -> i32 {
    if err != 0 {
        p.err(&format!("Error {}: {outs}\n", errno_name(err)));
        err
    } else {
        if !outs.is_empty() {
            p.err(&format!("{outs}\n"));
        }
        0
    }
}

/// `strict_strtoll` on a whole string (`src/common/strtol.cc`).
fn strict_int(s: &str) -> Result<i64, String> {
    s.parse::<i64>()
        .map_err(|_| format!("Expected option value to be integer, got '{s}'"))
}

/// `parse_osd_id` (`src/common/cmdparse.cc`): `N` or `osd.N`, positive, at most 0xffff; the
/// error text and the negative value the monitor then prints after "invalid osd id".
fn parse_osd_id(s: &str) -> Result<u32, (String, i64)> {
    let s = s.strip_prefix("osd.").unwrap_or(s);
    if s.starts_with('-') || s.starts_with('+') {
        return Err((format!("expected numerical value, got: {s}"), -22));
    }
    let n = match strict_int(s) {
        Ok(n) if n < i64::from(i32::MIN) || n > i64::from(i32::MAX) => {
            return Err((format!("The option value '{s}' seems to be invalid"), -1))
        }
        Ok(n) => n,
        Err(e) => return Err((e, -1)),
    };
    if n > 0xffff {
        return Err((format!("osd id {n} is too large"), -34));
    }
    Ok(n as u32)
}

impl Ceph {
    /// `ceph osd out IDS…`: the status (0 or `EINVAL`) and the message, with its trailing
    /// space. `any`, `all` and `*` mark every OSD out, quietly.
    pub(crate) fn osd_out(&mut self, ids: &[String], now: u64) -> (i32, String) {
        let mut ss = String::new();
        let mut err = 0;
        let mut any = false;
        for (j, word) in ids.iter().enumerate() {
            let (osds, verbose): (Vec<u32>, bool) =
                if j == 0 && matches!(word.as_str(), "any" | "all" | "*") {
                    (self.osds.iter().map(|o| o.id).collect(), false)
                } else {
                    match parse_osd_id(word) {
                        Err((msg, code)) => {
                            ss.push_str(&format!("{msg}invalid osd id{code}"));
                            err = EINVAL;
                            continue;
                        }
                        Ok(id) if !self.osds.iter().any(|o| o.id == id) => {
                            ss.push_str(&format!("osd.{id} does not exist. "));
                            continue;
                        }
                        Ok(id) => (vec![id], true),
                    }
                };
            for id in &osds {
                let Some(o) = self.osds.iter_mut().find(|o| o.id == *id) else {
                    continue;
                };
                if !o.is_in {
                    if verbose {
                        ss.push_str(&format!("osd.{id} is already out. "));
                    }
                } else {
                    o.is_in = false;
                    ss.push_str(&format!("marked out osd.{id}. "));
                    any = true;
                }
            }
            if !verbose {
                break;
            }
        }
        if any {
            self.epoch += 1;
            self.clock.last_in_change = now;
        }
        (err, ss)
    }

    /// The pool named `name`, as `all_pools` lists it.
    fn pool_id(&self, name: &str) -> Option<(u32, u32, u32)> {
        self.all_pools()
            .into_iter()
            .find(|p| p.name == name)
            .map(|p| (p.id, p.size, p.min_size))
    }

    /// Stores `size`/`min_size` for pool `name`.
    fn store_pool(&mut self, name: &str, size: u32, min_size: u32) {
        if name == ".mgr" {
            self.mgr_pool = Some((size, min_size));
        } else if let Some(p) = self.pools.iter_mut().find(|p| p.name == name) {
            p.size = size;
            p.min_size = min_size;
        }
    }

    /// `ceph osd pool set POOL VAR VAL [--yes-i-really-mean-it]` for `size` and `min_size`.
    pub(crate) fn pool_set(
        &mut self,
        pool: &str,
        var: &str,
        val: &str,
        sure: bool,
    ) -> Result<String, MonError> {
        let Some((id, size, _)) = self.pool_id(pool) else {
            return Err((ENOENT, format!("unrecognized pool '{pool}'")));
        };
        let parse = || {
            strict_int(val)
                .map_err(|e| (EINVAL, format!("error parsing integer value '{val}': {e}")))
        };
        match var {
            "size" => {
                let n = parse()?;
                if !(1..=10).contains(&n) {
                    return Err((EINVAL, "pool size must be between 1 and 10".into()));
                }
                if n == 1 {
                    if !self.allow_pool_size_one {
                        return Err((
                            EPERM,
                            "configuring pool size as 1 is disabled by default.".into(),
                        ));
                    }
                    if !sure {
                        return Err((EPERM, "WARNING: setting pool size 1 could lead to data loss without recovery. If you are *ABSOLUTELY CERTAIN* that is what you want, pass the flag --yes-i-really-mean-it.".into()));
                    }
                }
                let n = n as u32;
                // `get_osd_pool_default_min_size`, with pveceph's `osd_pool_default_min_size`.
                let min_size = if self.min_size > 0 {
                    self.min_size.min(n)
                } else {
                    n - n / 2
                };
                self.store_pool(pool, n, min_size);
            }
            "min_size" => {
                let n = parse()?;
                if n < 1 || n > i64::from(size) {
                    return Err((
                        EINVAL,
                        format!("pool min_size must be between 1 and size, which is set to {size}"),
                    ));
                }
                self.store_pool(pool, size, n as u32);
            }
            _ => {
                // Lab: only the replica counts are modelled.
                return Err((EINVAL, format!("unrecognized variable '{var}'")));
            }
        }
        self.epoch += 1;
        Ok(format!("set pool {id} {var} to {val}"))
    }

    /// `ceph osd pool get POOL size|min_size`: the plain text line (`preprocess_command`).
    pub(crate) fn pool_get(&self, pool: &str, var: &str) -> Result<String, MonError> {
        let Some((_, size, min_size)) = self.pool_id(pool) else {
            return Err((ENOENT, format!("unrecognized pool '{pool}'")));
        };
        match var {
            "size" => Ok(format!("size: {size}\n")),
            "min_size" => Ok(format!("min_size: {min_size}\n")),
            _ => Err((EINVAL, format!("unrecognized variable '{var}'"))),
        }
    }

    /// `osd crush remove osd.N`, `auth del osd.N`, `osd rm osd.N`: the OSD leaves the maps;
    /// its host bucket stays, empty.
    pub(crate) fn remove_osd(&mut self, id: u32) {
        self.osds.retain(|o| o.id != id);
        self.stopped.remove(&format!("osd.{id}"));
        self.epoch += 1;
    }

    /// `mon remove NAME` (which also stops the daemon).
    pub(crate) fn remove_mon(&mut self, node: usize, name: &str) {
        self.mons.retain(|m| *m != node);
        self.mon_addrs.remove(&node);
        self.stopped.remove(&format!("mon.{name}"));
        self.monmap_epoch += 1;
    }

    /// A manager's unit stopped and disabled, its directory and key removed.
    pub(crate) fn remove_mgr(&mut self, node: usize, name: &str) {
        self.mgrs.retain(|m| *m != node);
        self.stopped.remove(&format!("mgr.{name}"));
    }

    /// `osd pool delete NAME NAME --yes-i-really-really-mean-it` (pveceph's `ceph.conf` sets
    /// `mon_allow_pool_delete = true`); false when there is no such pool.
    pub(crate) fn delete_pool(&mut self, name: &str) -> bool {
        if self.pool_id(name).is_none() {
            return false;
        }
        if name == ".mgr" {
            self.mgr_pool_deleted = true;
        } else {
            self.pools.retain(|p| p.name != name);
        }
        self.epoch += 1;
        true
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    fn ceph() -> Ceph {
        let mut c = Ceph::new("f".into(), "10.0.0.0/24".into(), None, 3, 2);
        c.mgrs.push(0);
        for n in 0..3 {
            c.add_osd(n, 10, 1);
        }
        c
    }

    #[test]
    fn osd_out_messages_match_the_monitor() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let mut c = ceph();
        let cases: &[(&str, &[&str], i32, &str)] = &[
            ("first time", &["1"], 0, "marked out osd.1. "),
            ("again", &["osd.1"], 0, "osd.1 is already out. "),
            ("unknown id", &["9"], 0, "osd.9 does not exist. "),
            (
                "not a number",
                &["x"],
                EINVAL,
                "Expected option value to be integer, got 'x'invalid osd id-1",
            ),
            (
                "two",
                &["0", "2"],
                0,
                "marked out osd.0. marked out osd.2. ",
            ),
        ];
        for (name, ids, code, msg) in cases {
            assert_eq!(c.osd_out(&s(ids), 5), (*code, msg.to_string()), "{name}");
        }
        assert!(c.osds.iter().all(|o| !o.is_in));
    }

    #[test]
    fn pool_set_follows_prepare_command_pool_set() {
        let mut c = ceph();
        /// Name, variable, value, `--yes-i-really-mean-it`, the reply.
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            bool,
            Result<&'a str, (i32, &'a str)>,
        );
        let cases: &[Case<'_>] = &[
            ("size 2", "size", "2", false, Ok("set pool 1 size to 2")),
            (
                "min_size above size",
                "min_size",
                "3",
                false,
                Err((
                    EINVAL,
                    "pool min_size must be between 1 and size, which is set to 2",
                )),
            ),
            ("min_size 1", "min_size", "1", false, Ok("set pool 1 min_size to 1")),
            (
                "size 1 disabled",
                "size",
                "1",
                true,
                Err((EPERM, "configuring pool size as 1 is disabled by default.")),
            ),
            (
                "size 11",
                "size",
                "11",
                false,
                Err((EINVAL, "pool size must be between 1 and 10")),
            ),
            (
                "not a number",
                "size",
                "two",
                false,
                Err((
                    EINVAL,
                    "error parsing integer value 'two': Expected option value to be integer, got 'two'",
                )),
            ),
        ];
        for (name, var, val, sure, want) in cases {
            let got = c.pool_set(".mgr", var, val, *sure);
            let want = want
                .map(str::to_string)
                .map_err(|(e, m)| (e, m.to_string()));
            assert_eq!(got, want, "{name}");
        }
        assert_eq!(
            c.pool_set("vms", "size", "2", false),
            Err((ENOENT, "unrecognized pool 'vms'".into()))
        );
        // A new size resets min_size: min(osd_pool_default_min_size 2, size).
        assert_eq!(c.pool_get(".mgr", "min_size"), Ok("min_size: 1\n".into()));
        c.pool_set(".mgr", "size", "3", false).expect("size 3");
        assert_eq!(c.pool_get(".mgr", "min_size"), Ok("min_size: 2\n".into()));
        c.allow_pool_size_one = true;
        assert!(c
            .pool_set(".mgr", "size", "1", false)
            .is_err_and(|(e, m)| e == EPERM && m.starts_with("WARNING: setting pool size 1")));
        assert_eq!(
            c.pool_set(".mgr", "size", "1", true),
            Ok("set pool 1 size to 1".into())
        );
    }
}
