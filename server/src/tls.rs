//! `-Z`: memcached's TLS options (`-o ssl_*`) into keel-transport's `TlsSettings`, the
//! certificates loaded once for every worker (`TlsContext`), and SIGHUP reloading them as
//! `refresh_certs` does. Without `-Z` the `ssl_*` options are still checked, and unused.

use std::sync::Arc;

use keel_core::TlsHook;
use keel_driver_common::{ListenSpec, Security, TlsContext};
use keel_transport::TlsSettings;

use crate::cli::Options;
use crate::clock::WallClock;
use crate::error::Error;
use crate::extended::Extended;
use crate::signals;

impl Options {
    /// The `ssl_*` items of every `-o`, in order (a later one wins).
    pub(crate) fn tls_settings(&self) -> Result<TlsSettings, Error> {
        let mut settings = TlsSettings::default();
        for item in self.extended() {
            if let Extended::Tls(text) = item {
                settings.apply_option(text).map_err(Error::TlsOption)?;
            }
        }
        Ok(settings)
    }
}

/// The server's TLS, when `-Z` is given: loaded now (a missing or bad file is a startup error),
/// reloaded on SIGHUP for as long as the returned `Reload` is held.
pub(crate) fn load(
    options: &Options,
    listeners: &[ListenSpec],
    clock: WallClock,
) -> Result<Option<(Arc<TlsContext>, signals::Reload)>, Error> {
    let settings = options.tls_settings()?;
    if !options.enable_ssl {
        return Ok(None);
    }
    let mutual = listeners.iter().any(|l| l.security == Security::MutualTls);
    let context = Arc::new(TlsContext::load(settings, mutual, clock.now()).map_err(Error::Tls)?);
    let on_hangup = Arc::clone(&context);
    let reload: signals::Reload = Arc::new(move || match on_hangup.refresh(clock.now()) {
        Ok(()) => tracing::info!("SIGHUP: TLS certificate and key reloaded"),
        Err(e) => tracing::warn!("SIGHUP: TLS certificate not reloaded, the old one stays: {e}"),
    });
    signals::on_hangup(&reload);
    Ok(Some((context, reload)))
}

/// The core's view of the TLS layer.
pub(crate) fn hook(context: &Arc<TlsContext>) -> TlsHook {
    TlsHook(Arc::clone(context) as Arc<dyn keel_core::TlsControl>)
}
