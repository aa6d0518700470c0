//! Code generation for a checked [`GrainImpl`]: the message enum, its dispatch, the hooks, and the
//! typed ask and tell methods. Generated code reaches the runtime only through
//! `grain_runtime::__private`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::grain_impl::{Arg, GrainImpl, Hook, Method};

pub(crate) fn expand(grain: &GrainImpl) -> TokenStream {
    let block = &grain.block;
    let ty = &grain.self_ty;
    let name = &grain.ident;
    let call = format_ident!("__{}Call", name);
    let methods_ty = format_ident!("{}Ref", name);
    let tell_ty = format_ident!("{}Tell", name);
    // Generated code is located at the grain's type in `impl Type`: an error it causes, such as
    // the struct lacking `#[grain]`, points there rather than at the attribute.
    let span = Span::call_site().located_at(ty.span());
    let rt = quote_spanned!(span=> ::grain_runtime::__private);

    let variants = grain.methods.iter().map(|m| {
        let ident = &m.ident;
        let values = value_types(m);
        let output = output_type(m);
        quote!(#ident(#(#values,)* #rt::Reply<#output>))
    });
    let assertions = grain.methods.iter().flat_map(|m| {
        let args = value_types(m).cloned().collect::<Vec<_>>();
        args.into_iter().chain(m.output.clone()).map(|value| {
            quote_spanned!(value.span()=> const _: #rt::ValueCodec<#value> = #rt::codec::<#value>();)
        })
    });

    let handle_arms = grain
        .methods
        .iter()
        .map(|m| dispatch_arm(&call, m, quote!(__answer)));
    let shared_arms = grain.methods.iter().map(|m| {
        if m.mutable {
            let (pattern, _) = pattern(&call, m);
            quote!(#pattern => __reply.fail(#rt::Fault::Panicked(
                ::std::string::String::from("internal error: an exclusive call was run as an interleaved turn")
            )),)
        } else {
            dispatch_arm(&call, m, quote!(::core::option::Option::None))
        }
    });
    let interleave_arms = grain.methods.iter().map(|m| {
        let ident = &m.ident;
        let pattern = quote!(#call::#ident(..));
        let interleaves = if m.mutable {
            quote!(false)
        } else if m.reentrant {
            quote!(true)
        } else {
            quote!(__reentrant::<Self>())
        };
        quote!(#pattern => #interleaves,)
    });
    let method_arms = grain.methods.iter().map(|m| {
        let ident = &m.ident;
        let pattern = quote!(#call::#ident(..));
        let text = m.ident.to_string();
        quote!(#pattern => #text,)
    });
    let fail_arms = grain.methods.iter().map(|m| {
        let (pattern, _) = pattern(&call, m);
        quote!(#pattern => __reply.fail(__fault),)
    });
    let to_wire_arms = grain.methods.iter().map(|m| to_wire_arm(&call, m));
    let from_wire_arms = grain.methods.iter().map(|m| from_wire_arm(&call, m));
    let ask_methods = grain.methods.iter().map(|m| ask_method(&call, ty, m));
    let tell_methods = grain.methods.iter().map(|m| tell_method(&call, m));
    let on_activate = hook(
        quote!(__on_activate),
        quote!(on_activate),
        grain.on_activate.as_ref(),
    );
    let on_deactivate = hook(
        quote!(__on_deactivate),
        quote!(on_deactivate),
        grain.on_deactivate.as_ref(),
    );
    let ref_doc = format!(
        "The ask methods of [`{name}`], called on a `VirtualActorRef<{name}>`: each returns an ask to await."
    );
    let tell_doc = format!(
        "The tell methods of [`{name}`], from `VirtualActorRef::<{name}>::tell`: each queues its call and returns."
    );

    quote_spanned! {span=>
        #block

        #(#assertions)*

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        pub enum #call {
            #(#variants,)*
        }

        #[doc = #ref_doc]
        #[derive(Clone)]
        pub struct #methods_ty {
            core: #rt::RefCore<#ty>,
        }

        impl #rt::GrainMethods<#ty> for #methods_ty {
            fn from_core(core: #rt::RefCore<#ty>) -> Self {
                Self { core }
            }
            fn core(&self) -> &#rt::RefCore<#ty> {
                &self.core
            }
        }

        impl #methods_ty {
            #(#ask_methods)*
        }

        #[doc = #tell_doc]
        pub struct #tell_ty<'a> {
            core: &'a #rt::RefCore<#ty>,
        }

        impl<'a> ::core::convert::From<&'a #rt::RefCore<#ty>> for #tell_ty<'a> {
            fn from(core: &'a #rt::RefCore<#ty>) -> Self {
                Self { core }
            }
        }

        impl #tell_ty<'_> {
            #(#tell_methods)*
        }

        impl #rt::Grain for #ty {
            type Call = #call;
            type Methods = #methods_ty;
            type Tell<'a> = #tell_ty<'a>;

            #on_activate
            #on_deactivate

            fn __handle<'a>(
                &'a mut self,
                ctx: &'a ::grain_runtime::GrainContext<Self>,
                call: Self::Call,
                __answer: ::core::option::Option<&'a mut (dyn ::core::any::Any + ::core::marker::Send)>,
            ) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send + 'a {
                let _ = ctx;
                async move {
                    match call {
                        #(#handle_arms)*
                    }
                }
            }

            fn __handle_shared<'a>(
                &'a self,
                ctx: &'a ::grain_runtime::GrainContext<Self>,
                call: Self::Call,
            ) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send + 'a {
                let _ = ctx;
                async move {
                    match call {
                        #(#shared_arms)*
                    }
                }
            }

            fn __interleaves(call: &Self::Call) -> bool {
                // Through a generic function, so that a struct lacking `#[grain]` is not
                // reported once more for each method.
                #[allow(dead_code)]
                fn __reentrant<G: #rt::Grain>() -> bool {
                    G::OPTIONS.reentrant
                }
                match *call {
                    #(#interleave_arms)*
                }
            }

            fn __method(call: &Self::Call) -> &'static str {
                match *call {
                    #(#method_arms)*
                }
            }

            fn __fail(call: Self::Call, __fault: #rt::Fault) {
                match call {
                    #(#fail_arms)*
                }
            }

            fn __to_wire(call: Self::Call) -> #rt::WireCall {
                match call {
                    #(#to_wire_arms)*
                }
            }

            fn __from_wire(
                __method: &str,
                __payload: &[u8],
                __reply: ::core::option::Option<#rt::RemoteReply>,
            ) -> ::core::result::Result<
                Self::Call,
                (::std::string::String, ::core::option::Option<#rt::RemoteReply>),
            > {
                let _ = __payload;
                match __method {
                    #(#from_wire_arms)*
                    _ => ::core::result::Result::Err((
                        #rt::unknown_method(<Self as #rt::GrainSpec>::KIND, __method),
                        __reply,
                    )),
                }
            }
        }
    }
}

fn value_types(m: &Method) -> impl Iterator<Item = &syn::Type> {
    m.args.iter().filter_map(|arg| match arg {
        Arg::Value(ty) => Some(&**ty),
        Arg::Context(_) => None,
    })
}

fn output_type(m: &Method) -> TokenStream {
    m.output
        .as_ref()
        .map_or_else(|| quote!(()), |ty| quote!(#ty))
}

/// Names for the caller-supplied arguments: `__a0`, `__a1`, ...
fn value_names(m: &Method) -> Vec<Ident> {
    (0..value_types(m).count())
        .map(|i| Ident::new(&format!("__a{i}"), Span::call_site()))
        .collect()
}

/// The match pattern of a method's variant, binding its values and `__reply`.
fn pattern(call: &Ident, m: &Method) -> (TokenStream, Vec<Ident>) {
    let ident = &m.ident;
    let names = value_names(m);
    (quote!(#call::#ident(#(#names,)* __reply)), names)
}

/// Runs the method on `self` and completes the reply, or fills `answer` (see `Grain::__handle`).
fn dispatch_arm(call: &Ident, m: &Method, answer: TokenStream) -> TokenStream {
    let (pattern, names) = pattern(call, m);
    let mut values = names.iter();
    let args = m.args.iter().map(|arg| match arg {
        Arg::Context(span) => quote_spanned!(*span=> ctx),
        Arg::Value(_) => {
            let name = values.next();
            quote!(#name)
        }
    });
    let ident = &m.ident;
    quote!(#pattern => __reply.complete(self.#ident(#(#args),*), #answer).await,)
}

/// Encodes the method's arguments in declaration order and turns its reply slot into a receiver
/// of the encoded result.
fn to_wire_arm(call: &Ident, m: &Method) -> TokenStream {
    let rt = quote!(::grain_runtime::__private);
    let (pattern, names) = pattern(call, m);
    let codecs = value_types(m).map(codec);
    let output = output_codec(m);
    let text = m.ident.to_string();
    quote! {
        #pattern => {
            let mut __args = #rt::ArgsWriter::new();
            #(__args.push(#codecs, &#names);)*
            #rt::WireCall {
                method: #text,
                payload: __args.finish(),
                reply: __reply.into_remote(#output),
            }
        }
    }
}

/// Decodes the method's arguments, in declaration order, and builds its variant around a reply
/// slot that encodes the result for the remote caller.
fn from_wire_arm(call: &Ident, m: &Method) -> TokenStream {
    let rt = quote!(::grain_runtime::__private);
    let ident = &m.ident;
    let names = value_names(m);
    let types = value_types(m);
    let codecs = value_types(m).map(codec);
    let output = output_codec(m);
    let text = m.ident.to_string();
    quote! {
        #text => {
            let mut __args = #rt::ArgsReader::new(#text, __payload);
            let __decoded = (|| -> ::core::result::Result<_, ::std::string::String> {
                #(let #names: #types = __args.arg(#codecs)?;)*
                __args.finish()?;
                ::core::result::Result::Ok((#(#names,)*))
            })();
            match __decoded {
                ::core::result::Result::Ok((#(#names,)*)) => ::core::result::Result::Ok(
                    #call::#ident(#(#names,)* #rt::Reply::remote(#output, __reply))
                ),
                ::core::result::Result::Err(__error) => ::core::result::Result::Err((__error, __reply)),
            }
        }
    }
}

/// The codec of `ty`, located at the user's type so that an unserializable type is reported there.
fn codec(ty: &syn::Type) -> TokenStream {
    quote_spanned!(ty.span()=> ::grain_runtime::__private::codec::<#ty>())
}

/// The codec of the method's result.
fn output_codec(m: &Method) -> TokenStream {
    match &m.output {
        Some(ty) => codec(ty),
        None => quote!(::grain_runtime::__private::codec::<()>()),
    }
}

fn ask_method(call: &Ident, ty: &syn::Type, m: &Method) -> TokenStream {
    let rt = quote!(::grain_runtime::__private);
    let ident = &m.ident;
    let docs = &m.docs;
    let names = value_names(m);
    let types = value_types(m);
    let output = output_type(m);
    quote! {
        #(#docs)*
        pub fn #ident(&self, #(#names: #types),*) -> #rt::Ask<'_, #ty, #output> {
            #[allow(unreachable_patterns)]
            fn __bind(call: &mut #call) -> ::core::option::Option<&mut #rt::Reply<#output>> {
                match call {
                    #call::#ident(.., __reply) => ::core::option::Option::Some(__reply),
                    _ => ::core::option::Option::None,
                }
            }
            #rt::Ask::new(&self.core, move |__reply| #call::#ident(#(#names,)* __reply), __bind)
        }
    }
}

fn tell_method(call: &Ident, m: &Method) -> TokenStream {
    let rt = quote!(::grain_runtime::__private);
    let ident = &m.ident;
    let docs = &m.docs;
    let names = value_names(m);
    let types = value_types(m);
    quote! {
        #(#docs)*
        pub fn #ident(&self, #(#names: #types),*) -> ::core::result::Result<(), ::grain_runtime::CallError> {
            self.core.tell(#call::#ident(#(#names,)* #rt::Reply::none()))
        }
    }
}

fn hook(trait_fn: TokenStream, user_fn: TokenStream, hook: Option<&Hook>) -> TokenStream {
    let Some(hook) = hook else {
        return TokenStream::new();
    };
    let args = if hook.takes_ctx {
        quote!(ctx)
    } else {
        quote!()
    };
    quote! {
        fn #trait_fn<'a>(
            &'a mut self,
            ctx: &'a ::grain_runtime::GrainContext<Self>,
        ) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send + 'a {
            let _ = ctx;
            async move { self.#user_fn(#args).await }
        }
    }
}
