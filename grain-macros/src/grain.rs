//! `#[grain]` on a struct: the grain's kind name and options.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ItemStruct;

use crate::attr::{GrainAttr, Persistence};

pub(crate) fn expand(attr: TokenStream, def: ItemStruct) -> syn::Result<TokenStream> {
    let options = GrainAttr::parse(attr);
    let generics = if def.generics.params.is_empty() && def.generics.where_clause.is_none() {
        Ok(())
    } else {
        Err(syn::Error::new_spanned(
            &def.generics,
            "a grain cannot be generic: each grain kind needs one concrete type with a stable name; \
             define one struct per kind instead",
        ))
    };
    // A bad option still declares the grain, with default options, so the impl block's expansion
    // does not add "not declared as a grain" errors to the one about the option.
    let (options, options_error) = match (options, generics) {
        (Ok(options), Ok(())) => (options, None),
        (Err(e), Ok(())) => (GrainAttr::default(), Some(e)),
        (Err(mut a), Err(b)) => {
            a.combine(b);
            return Err(a);
        }
        (Ok(_), Err(e)) => return Err(e),
    };
    let ident = &def.ident;
    let kind = options
        .kind
        .map_or_else(|| ident.to_string(), |kind| kind.value());
    let idle_timeout = match options.idle_timeout_ms {
        Some(ms) => quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#ms))),
        None => quote!(::core::option::Option::None),
    };
    let mailbox_capacity = match options.mailbox_capacity {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };
    let reentrant = options.reentrant;
    let policy = quote!(::grain_runtime::__private::SnapshotPolicy::DEFAULT);
    let (model, snapshots, marker) = match &options.persistence {
        Persistence::Volatile => (quote!(::grain_runtime::__private::Volatile), policy, None),
        Persistence::Journaled(span, snapshot) => {
            // Every field is written out: `..DEFAULT` after all three would trip
            // `clippy::needless_update` in the user's crate.
            let every = snapshot
                .every
                .map_or_else(|| quote!(#policy.every), |n| quote!(#n));
            let on_deactivate = snapshot
                .on_deactivate
                .map_or_else(|| quote!(#policy.on_deactivate), |b| quote!(#b));
            let prune_events = snapshot
                .prune_events
                .map_or_else(|| quote!(#policy.prune_events), |b| quote!(#b));
            (
                // Spanned at the option, so that a missing `EventSourced` impl is reported there.
                quote_spanned!(*span=> ::grain_runtime::__private::Journaled),
                quote!(::grain_runtime::__private::SnapshotPolicy {
                    every: #every,
                    on_deactivate: #on_deactivate,
                    prune_events: #prune_events,
                }),
                Some(
                    quote_spanned!(*span=> impl ::grain_runtime::__private::JournaledGrain for #ident {}),
                ),
            )
        }
        Persistence::Persistent(span) => (
            quote_spanned!(*span=> ::grain_runtime::__private::Saved),
            policy,
            Some(
                quote_spanned!(*span=> impl ::grain_runtime::__private::PersistentGrain for #ident {}),
            ),
        ),
    };
    let options_error = options_error.map(syn::Error::into_compile_error);
    Ok(quote! {
        #def

        impl ::grain_runtime::__private::GrainSpec for #ident {
            const KIND: &'static str = #kind;
            const OPTIONS: ::grain_runtime::__private::GrainOptions =
                ::grain_runtime::__private::GrainOptions {
                    idle_timeout: #idle_timeout,
                    mailbox_capacity: #mailbox_capacity,
                    reentrant: #reentrant,
                    snapshots: #snapshots,
                };
            type Persistence = #model;
        }

        #marker

        #options_error
    })
}
