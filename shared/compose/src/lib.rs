//! The composition root: every binary (the five Lambdas, the `helpdesk` binary) and the test
//! harness build the application here, from one [`Settings`].
//!
//! - [`settings`]: the one settings type, read once (environment, flags, or a template's
//!   function environment in tests), typed, with secrets that never print;
//! - [`aws`] (feature `aws`): the AWS builder, from the SDK configuration loaded once;
//! - [`local`] (feature `local`): the self-hosted builder, from the data directory;
//! - [`logging`]: the one logging init.
//!
//! A binary names the [`Capability`]s it needs; a needed capability whose settings are missing
//! stops start-up with the missing variables' names, never a silent downgrade.
//! `docs/architecture.md` shows how each binary is composed.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "kb-embedded")]
pub mod kb;
#[cfg(feature = "local")]
pub mod local;
pub mod logging;
pub mod settings;

pub use settings::{Capability, Secret, Settings, SettingsError};

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// An adapter refused its settings (a bad URL, a client that could not be built).
    #[error("{what}: {message}")]
    Adapter { what: &'static str, message: String },
    /// The data directory could not be opened or its keys read.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl ComposeError {
    #[cfg(any(feature = "aws", feature = "local"))]
    fn adapter(what: &'static str) -> impl Fn(String) -> Self {
        move |message| Self::Adapter { what, message }
    }
}

#[cfg(any(feature = "aws", feature = "local"))]
/// The setting of a needed capability, or the error naming it (checked by
/// [`Settings::require`] first, so builders rarely see it).
fn needed<'a, T>(
    value: &'a Option<T>,
    variable: &'static str,
    capability: Capability,
) -> Result<&'a T, ComposeError> {
    value.as_ref().ok_or_else(|| {
        SettingsError::Missing(vec![settings::MissingSetting {
            variable,
            capability,
        }])
        .into()
    })
}

/// The platform's user API as the customer directory, when configured.
#[cfg(any(feature = "aws", feature = "local"))]
fn customer_directory(
    settings: &Settings,
) -> Result<
    Option<std::sync::Arc<dyn helpdesk_app::customer_directory::CustomerDirectory>>,
    ComposeError,
> {
    let Some(d) = &settings.directory else {
        return Ok(None);
    };
    let directory = helpdesk_adapters::platform::HttpCustomerDirectory::new(
        helpdesk_adapters::platform::DirectorySettings {
            url: d.url.clone(),
            token: d
                .token
                .as_ref()
                .map(|t| helpdesk_adapters::platform::Secret::new(t.expose())),
            timeout: d.timeout,
            cache_ttl: d.cache_ttl,
        },
    )
    .map_err(|e| ComposeError::adapter("CUSTOMER_DIRECTORY_URL")(e.to_string()))?;
    Ok(Some(std::sync::Arc::new(directory)))
}

#[cfg(any(feature = "aws", feature = "local"))]
/// The order capabilities are wired in: the embedded KB index last, because it keeps a handle
/// on the application it rebuilds from.
const WIRING_ORDER: [Capability; 13] = [
    Capability::Table,
    Capability::Mail,
    Capability::Inbound,
    Capability::MailBucket,
    Capability::ClassifierModels,
    Capability::RoutingQueue,
    Capability::RoutingDeadLetters,
    Capability::Links,
    Capability::SlaAlerts,
    Capability::SmsPaging,
    Capability::CustomerDirectory,
    Capability::ConsoleSignIn,
    Capability::KbSearch,
];

/// `needs` in [`WIRING_ORDER`].
#[cfg(any(feature = "aws", feature = "local"))]
fn in_wiring_order(needs: &[Capability]) -> impl Iterator<Item = Capability> + '_ {
    WIRING_ORDER.into_iter().filter(|c| needs.contains(c))
}
