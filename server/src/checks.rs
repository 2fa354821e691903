//! The startup checks memcached makes once every flag is read, with its messages, and keel's own
//! refusals: features it parses but does not serve yet. Also the one list of memcached flags keel
//! accepts with no meaning, for the startup log.

use crate::cli::Options;
use crate::error::Error;
use crate::extended::Extended;
use crate::listen::{self, ListenSpec};

impl Options {
    /// Refuses a command line memcached would refuse, or one keel cannot serve; otherwise returns
    /// what was accepted with no meaning for keel (empty when nothing was), for one log line.
    pub fn check(&self) -> Result<Vec<String>, Error> {
        if self.max_item_size as u64 > (self.memory_limit << 20) / 2 {
            return Err(Error::ItemSizeOverHalfMemory);
        }
        if let Some(napi) = self.napi_ids {
            if napi as usize > self.threads {
                return Err(Error::NapiIds {
                    napi,
                    threads: self.threads,
                });
            }
        }
        if self.udp_port != 0 {
            return Err(Error::Udp(self.udp_port));
        }
        self.listen_specs()?;
        let tls = self.tls_settings()?;
        if self.enable_ssl {
            tls.validate().map_err(Error::TlsOption)?;
        }
        Ok(self.no_meaning())
    }

    /// The `-l` addresses, in order (at least one).
    pub(crate) fn listen_specs(&self) -> Result<Vec<ListenSpec>, Error> {
        listen::parse(&self.listen, self.port).map_err(Error::Listen)
    }

    /// Every `-o` item, in order.
    pub(crate) fn extended(&self) -> impl Iterator<Item = &Extended> {
        self.extended.iter().flatten()
    }

    /// The accepted flags and `-o` items that change nothing in keel, as the user wrote them.
    fn no_meaning(&self) -> Vec<String> {
        let mut list = Vec::new();
        let mut flag = |given: bool, text: String| {
            if given {
                list.push(text);
            }
        };
        let show = |v: &Option<String>| v.clone().unwrap_or_default();
        let factor = self.slab_growth_factor.map(|f| f.to_string());
        flag(factor.is_some(), format!("-f {}", show(&factor)));
        let min = self.slab_min_size.map(|n| n.to_string());
        flag(min.is_some(), format!("-n {}", show(&min)));
        flag(self.enable_largepages, "-L".to_owned());
        flag(
            self.prefix_delimiter.is_some(),
            format!("-D {}", show(&self.prefix_delimiter)),
        );
        flag(self.disable_watch, "-W".to_owned());
        let napi = self.napi_ids.map(|n| n.to_string());
        flag(napi.is_some(), format!("-N {}", show(&napi)));
        for item in self.extended() {
            if let Extended::NoMeaning(text) = item {
                list.push(format!("-o {text}"));
            }
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn check(args: &[&str]) -> Result<Vec<String>, String> {
        let options =
            Options::try_parse_from([&["keel"], args].concat()).map_err(|e| e.to_string())?;
        options.check().map_err(|e| e.to_string())
    }

    #[test]
    fn memcacheds_own_command_line_passes() {
        let args = "-u memcache -m 1024 -p 11211 -U 0 -t 4 -c 4096 -o modern";
        assert_eq!(check(&args.split(' ').collect::<Vec<_>>()), Ok(vec![]));
    }

    #[test]
    fn item_size_above_half_the_memory_is_memcacheds_error() {
        assert_eq!(
            check(&["-m", "1", "-I", "1m"]),
            Err("Cannot set item size limit higher than 1/2 of memory max.".to_owned())
        );
        assert_eq!(check(&["-m", "2", "-I", "1m"]), Ok(vec![]));
        assert!(check(&["-m", "0"]).is_err());
    }

    #[test]
    fn udp_is_refused_and_the_other_features_accepted() {
        assert!(check(&["-U", "0"]).is_ok());
        let udp = check(&["-U", "11211"]).unwrap_err();
        assert!(udp.contains("UDP") && udp.contains("11211"), "{udp}");
        assert!(check(&["-e", "/dev/shm/m"]).is_ok());
        assert_eq!(
            check(&["-Z"]).unwrap_err(),
            "TLS needs a certificate and a key: -o ssl_chain_cert=PATH,ssl_key=PATH"
        );
        assert!(check(&["-Z", "-o", "ssl_chain_cert=c.pem,ssl_key=k.pem"]).is_ok());
        assert!(check(&["-o", "ssl_verify_mode=7"]).is_err());
        assert!(check(&["-l", "mtls:127.0.0.1"]).is_ok());
        assert!(check(&["-l", "127.0.0.1,127.0.0.2"]).is_ok());
        assert!(check(&["-s", "/tmp/m.sock", "-a", "0755"]).is_ok());
        assert!(check(&["-l", "127.0.0.1", "-l", "127.0.0.1"]).is_ok());
        assert!(check(&["-N", "5", "-t", "4"]).is_err());
    }

    #[test]
    fn flags_without_meaning_are_listed_once_as_written() {
        let args = [
            "-o",
            "modern,slab_chunk_max=524288",
            "-f",
            "1.5",
            "-L",
            "-W",
            "-o",
            "no_lru_crawler,idle_timeout=9",
            "-D",
            ":",
        ];
        assert_eq!(
            check(&args),
            Ok(vec![
                "-f 1.5".to_owned(),
                "-L".to_owned(),
                "-D :".to_owned(),
                "-W".to_owned(),
                "-o slab_chunk_max=524288".to_owned(),
                "-o no_lru_crawler".to_owned(),
            ])
        );
    }
}
