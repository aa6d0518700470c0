//! The options of `#[grain(...)]` on a struct.

use proc_macro2::TokenStream;
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
}

const OPTIONS: &str = "kind, idle_timeout, mailbox_capacity, reentrant";

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
