//! The `#[grain]` attribute macros of `grain-runtime`. Use them through `grain_runtime::prelude`.
//!
//! `#[grain]` goes twice on a grain type: on the struct, where it takes the type's options, and on
//! its inherent `impl` block, where every `pub async fn` with a `&self` or `&mut self` receiver
//! becomes a message the grain handles and a typed method on `VirtualActorRef<Grain>`.

mod attr;
mod codegen;
mod grain;
mod grain_impl;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{ToTokens, quote};

/// Declares a grain: on a struct (with options) and on its inherent `impl` block.
///
/// ```ignore
/// #[grain(kind = "bank.Account", idle_timeout = "10m", mailbox_capacity = 1000, reentrant)]
/// #[derive(Default)]
/// pub struct Account { balance: u64 }
///
/// #[grain]
/// impl Account {
///     pub async fn deposit(&mut self, amount: u64) -> u64 { self.balance += amount; self.balance }
///     #[reentrant]
///     pub async fn balance(&self) -> u64 { self.balance }
///     async fn on_activate(&mut self, ctx: &GrainContext<Self>) { /* ... */ }
/// }
/// ```
#[proc_macro_attribute]
pub fn grain(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = TokenStream2::from(attr);
    let item = TokenStream2::from(item);
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Struct(def)) => expand_with(def.clone(), || grain::expand(attr, def)),
        Ok(syn::Item::Impl(block)) => {
            let untouched = grain_impl::without_markers(block.clone());
            expand_with(untouched, || grain_impl::expand(attr, block))
        }
        Ok(other) => {
            let error = wrong_item(&other);
            let mut out = other.into_token_stream();
            out.extend(error.into_compile_error());
            out.into()
        }
        Err(error) => {
            let mut out = item;
            out.extend(error.into_compile_error());
            out.into()
        }
    }
}

/// The error for `#[grain]` on an item that is neither a struct nor an impl block, spanned on the
/// item's keyword and name rather than on its whole body.
fn wrong_item(item: &syn::Item) -> syn::Error {
    fn head(keyword: impl ToTokens, ident: &syn::Ident) -> TokenStream2 {
        quote!(#keyword #ident)
    }
    let (head, what) = match item {
        syn::Item::Enum(e) => (head(e.enum_token, &e.ident), "an enum"),
        syn::Item::Union(u) => (head(u.union_token, &u.ident), "a union"),
        syn::Item::Trait(t) => (head(t.trait_token, &t.ident), "a trait"),
        syn::Item::Fn(f) => (head(f.sig.fn_token, &f.sig.ident), "a function"),
        other => (other.to_token_stream(), "this item"),
    };
    let hint = match item {
        syn::Item::Enum(_) | syn::Item::Union(_) => {
            "; to keep it as a grain's state, make it a field of a `#[grain]` struct"
        }
        _ => "",
    };
    syn::Error::new_spanned(
        head,
        format!(
            "#[grain] goes on a struct and on that struct's inherent impl block, not on {what}{hint}"
        ),
    )
}

/// Runs an expansion; on error, emits the item unchanged next to the error so the rest of the
/// crate still type-checks and the IDE keeps working.
fn expand_with(
    untouched: impl ToTokens,
    expand: impl FnOnce() -> syn::Result<TokenStream2>,
) -> TokenStream {
    match expand() {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let mut out = untouched.into_token_stream();
            out.extend(error.into_compile_error());
            out.into()
        }
    }
}
