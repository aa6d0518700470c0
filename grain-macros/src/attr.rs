//! The options of `#[grain(...)]` on a struct.

use proc_macro2::Span;
use proc_macro2::TokenStream;
use quote::ToTokens as _;
use syn::meta::ParseNestedMeta;
use syn::parse::Parse;
use syn::{LitBool, LitInt, LitStr};

/// Options given to `#[grain(...)]` on the struct.
#[derive(Default)]
pub(crate) struct GrainAttr {
    pub(crate) kind: Option<LitStr>,
    pub(crate) idle_timeout_ms: Option<u64>,
    pub(crate) mailbox_capacity: Option<usize>,
    pub(crate) reentrant: bool,
    pub(crate) persistence: Persistence,
}

/// How the grain's state is kept, with the span of the option that chose it.
#[derive(Default)]
pub(crate) enum Persistence {
    #[default]
    Volatile,
    Journaled(Span, SnapshotOptions),
    Persistent(Span),
}

/// The options of `journaled(...)`; unset ones take the runtime's defaults.
#[derive(Default)]
pub(crate) struct SnapshotOptions {
    pub(crate) every: Option<u64>,
    pub(crate) on_deactivate: Option<bool>,
    pub(crate) prune_events: Option<bool>,
}

const OPTIONS: &str = "kind, idle_timeout, mailbox_capacity, reentrant, journaled, persistent";
const SNAPSHOT_OPTIONS: &str = "snapshot_every, snapshot_on_deactivate, prune_events";

impl GrainAttr {
    pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Self> {
        let mut attr = GrainAttr::default();
        let mut seen: Vec<String> = Vec::new();
        let parser = syn::meta::parser(|meta| {
            let Some(name) = meta.path.get_ident().map(ToString::to_string) else {
                return Err(meta.error(format!("unknown grain option; expected one of {OPTIONS}")));
            };
            if seen.contains(&name) {
                return Err(meta.error(format!("`{name}` specified more than once")));
            }
            seen.push(name.clone());
            match name.as_str() {
                "kind" => {
                    let kind: LitStr = value(
                        &meta,
                        "kind takes a string, such as `kind = \"bank.Account\"`",
                    )?;
                    if kind.value().trim().is_empty() || kind.value().contains('/') {
                        return Err(syn::Error::new(
                            kind.span(),
                            "a grain kind name must be non-empty and must not contain `/`",
                        ));
                    }
                    attr.kind = Some(kind);
                }
                "idle_timeout" => {
                    let text: LitStr = value(
                        &meta,
                        "idle_timeout takes a string, such as `idle_timeout = \"30s\"`",
                    )?;
                    attr.idle_timeout_ms = Some(parse_duration_ms(&text)?);
                }
                "mailbox_capacity" => {
                    let capacity: LitInt = value(
                        &meta,
                        "mailbox_capacity takes a whole number, such as `mailbox_capacity = 1000`",
                    )?;
                    let value: usize = capacity.base10_parse()?;
                    if value == 0 {
                        return Err(syn::Error::new(
                            capacity.span(),
                            "mailbox_capacity must be at least 1",
                        ));
                    }
                    attr.mailbox_capacity = Some(value);
                }
                "journaled" | "persistent" => {
                    if !matches!(attr.persistence, Persistence::Volatile) {
                        return Err(meta.error(
                            "a grain is either `journaled` (event-sourced) or `persistent` (whole state), not both",
                        ));
                    }
                    let span = meta
                        .path
                        .get_ident()
                        .map_or_else(Span::call_site, |i| i.span());
                    attr.persistence = if name == "journaled" {
                        Persistence::Journaled(span, snapshot_options(&meta)?)
                    } else {
                        Persistence::Persistent(span)
                    };
                }
                "reentrant" => {
                    attr.reentrant = if meta.input.peek(syn::Token![=]) {
                        value::<LitBool>(&meta, "reentrant takes `true` or `false`, or no value")?
                            .value
                    } else {
                        true
                    };
                }
                _ => {
                    return Err(meta.error(format!(
                        "unknown grain option `{name}`; expected one of {OPTIONS}"
                    )));
                }
            }
            Ok(())
        });
        syn::parse::Parser::parse2(parser, tokens)?;
        Ok(attr)
    }
}

/// Parses the optional `(snapshot_every = N, ...)` after `journaled`.
fn snapshot_options(meta: &ParseNestedMeta<'_>) -> syn::Result<SnapshotOptions> {
    let mut options = SnapshotOptions::default();
    if !meta.input.peek(syn::token::Paren) {
        return Ok(options);
    }
    // Parsed like the attribute itself, so that `journaled()` is accepted as `#[grain()]` is.
    let content;
    syn::parenthesized!(content in meta.input);
    let content: TokenStream = content.parse()?;
    let parser = syn::meta::parser(|nested| {
        let name = nested
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match name.as_str() {
            "snapshot_every" if options.every.is_none() => {
                let every: LitInt = value(
                    &nested,
                    "snapshot_every takes a whole number of events, such as `snapshot_every = 100`",
                )?;
                let n: u64 = every.base10_parse()?;
                if n == 0 {
                    return Err(syn::Error::new(
                        every.span(),
                        "snapshot_every must be at least 1",
                    ));
                }
                options.every = Some(n);
            }
            "snapshot_on_deactivate" if options.on_deactivate.is_none() => {
                options.on_deactivate = Some(
                    value::<LitBool>(&nested, "snapshot_on_deactivate takes `true` or `false`")?
                        .value,
                );
            }
            "prune_events" if options.prune_events.is_none() => {
                options.prune_events =
                    Some(value::<LitBool>(&nested, "prune_events takes `true` or `false`")?.value);
            }
            "snapshot_every" | "snapshot_on_deactivate" | "prune_events" => {
                return Err(nested.error(format!("`{name}` specified more than once")));
            }
            _ => {
                return Err(nested.error(format!(
                    "unknown journaled option `{}`; expected one of {SNAPSHOT_OPTIONS}",
                    nested.path.to_token_stream()
                )));
            }
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, content)?;
    Ok(options)
}

/// Parses the value after `name =`, or fails with `expected` on the value's tokens.
fn value<T: Parse>(meta: &ParseNestedMeta<'_>, expected: &str) -> syn::Result<T> {
    let input = meta.value()?;
    input
        .parse()
        .map_err(|error| syn::Error::new(error.span(), expected))
}

/// Parses `"500ms"`, `"30s"`, `"10m"` or `"2h"` into milliseconds.
fn parse_duration_ms(text: &LitStr) -> syn::Result<u64> {
    let value = text.value();
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let scale = match unit.trim() {
        "ms" => Some(1),
        "s" => Some(1_000),
        "m" => Some(60_000),
        "h" => Some(3_600_000),
        _ => None,
    };
    let parsed = number.parse::<u64>().ok();
    match (parsed, scale) {
        (Some(n), Some(scale)) if n > 0 => n
            .checked_mul(scale)
            .ok_or_else(|| syn::Error::new(text.span(), "idle_timeout is too large")),
        (Some(0), Some(_)) => Err(syn::Error::new(
            text.span(),
            "idle_timeout must be longer than zero; to keep activations for long, use a large value such as \"24h\"",
        )),
        _ => Err(syn::Error::new(
            text.span(),
            format!(
                "invalid idle_timeout {:?}: write a positive whole number followed by ms, s, m or h, such as \"30s\"",
                text.value()
            ),
        )),
    }
}

/// Rejects any option on the impl block: options belong on the struct.
pub(crate) fn expect_empty(tokens: TokenStream) -> syn::Result<()> {
    if tokens.is_empty() {
        return Ok(());
    }
    Err(syn::Error::new_spanned(
        tokens,
        "options go on the struct's #[grain(...)], not on the impl block",
    ))
}
