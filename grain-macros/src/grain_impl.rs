//! `#[grain]` on an impl block: reads the grain's methods and hooks into a checked form.
//!
//! Every `pub` method with a receiver is a grain method; it must be `async`, take `&self` or
//! `&mut self`, and take owned, serializable arguments. `on_activate` and `on_deactivate` are
//! lifecycle hooks. Other items (private helpers, associated functions, constants) are left as
//! they are. Validation happens here, so code generation never re-checks.

use proc_macro2::{Ident, Span, TokenStream};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    Attribute, FnArg, ImplItem, ImplItemFn, ItemImpl, ReceiverKind, ReturnType, Type, Visibility,
};

use crate::attr;
use crate::codegen;

/// The marker attribute that makes a `&self` method interleavable.
const REENTRANT: &str = "reentrant";

/// Names that `VirtualActorRef` itself answers to, so a grain method with one would be unreachable.
const RESERVED: &[&str] = &[
    "id",
    "tell",
    "clone",
    "clone_from",
    "eq",
    "ne",
    "hash",
    "fmt",
    "deref",
    "to_owned",
    "to_string",
    "into",
    "try_into",
    "serialize",
    "type_id",
    "borrow",
];

/// A grain's impl block, checked.
pub(crate) struct GrainImpl {
    pub(crate) block: ItemImpl,
    pub(crate) self_ty: Type,
    pub(crate) ident: Ident,
    pub(crate) methods: Vec<Method>,
    pub(crate) on_activate: Option<Hook>,
    pub(crate) on_deactivate: Option<Hook>,
}

/// One grain method.
pub(crate) struct Method {
    pub(crate) ident: Ident,
    pub(crate) docs: Vec<Attribute>,
    pub(crate) mutable: bool,
    pub(crate) reentrant: bool,
    pub(crate) args: Vec<Arg>,
    pub(crate) output: Option<Type>,
}

/// One parameter of a grain method, in declaration order.
pub(crate) enum Arg {
    /// The `ctx: &GrainContext<Self>` parameter, supplied by the runtime; the span is the
    /// parameter's name, where a type mismatch is reported.
    Context(Span),
    /// A value the caller passes.
    Value(Box<Type>),
}

/// A lifecycle hook the grain defines.
pub(crate) struct Hook {
    pub(crate) takes_ctx: bool,
}

pub(crate) fn expand(attr_tokens: TokenStream, block: ItemImpl) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    if let Err(e) = attr::expect_empty(attr_tokens) {
        errors.push(e);
    }
    let span = block.self_ty.span();
    match parse(block, &mut errors) {
        // Mistakes inside single methods or hooks leave the rest of the grain usable: it is
        // generated without them, so the only errors are the ones about the mistakes.
        Some(grain) => {
            let mut tokens = codegen::expand(&grain);
            if let Err(error) = errors.finish() {
                tokens.extend(error.into_compile_error());
            }
            Ok(tokens)
        }
        None => {
            errors.finish()?;
            Err(syn::Error::new(
                span,
                "#[grain] could not read this impl block",
            ))
        }
    }
}

/// The impl block with the `#[reentrant]` markers removed, as emitted next to an error.
pub(crate) fn without_markers(mut block: ItemImpl) -> ItemImpl {
    for item in &mut block.items {
        if let ImplItem::Fn(f) = item {
            f.attrs.retain(|a| !a.path().is_ident(REENTRANT));
        }
    }
    block
}

#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Reads the block; `None` when the block as a whole cannot be a grain's (a trait impl, a
/// generic impl), in which case nothing is generated.
fn parse(block: ItemImpl, errors: &mut Errors) -> Option<GrainImpl> {
    let whole_ok = block.trait_.is_none() && block.generics.params.is_empty();
    if let Some((path, _)) = &block.trait_ {
        errors.push(syn::Error::new_spanned(
            path,
            "#[grain] goes on the grain's inherent impl block, not on a trait impl",
        ));
    }
    if !block.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &block.generics,
            "a grain cannot be generic: each grain kind needs one concrete type with a stable name",
        ));
    }
    let ident = match &*block.self_ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.clone()),
        _ => None,
    };
    let Some(ident) = ident else {
        errors.push(syn::Error::new_spanned(
            &block.self_ty,
            "#[grain] goes on the impl block of a struct declared with #[grain]",
        ));
        return None;
    };
    let self_ty = (*block.self_ty).clone();
    let mut grain = GrainImpl {
        block: without_markers(block.clone()),
        self_ty,
        ident,
        methods: Vec::new(),
        on_activate: None,
        on_deactivate: None,
    };
    for item in &block.items {
        let ImplItem::Fn(f) = item else { continue };
        let name = f.sig.ident.to_string();
        let marker = f.attrs.iter().find(|a| a.path().is_ident(REENTRANT));
        if name == "on_activate" || name == "on_deactivate" {
            if let Some(marker) = marker {
                errors.push(syn::Error::new_spanned(
                    marker,
                    "lifecycle hooks cannot be #[reentrant]",
                ));
            }
            let hook = parse_hook(f, errors);
            if name == "on_activate" {
                grain.on_activate = hook;
            } else {
                grain.on_deactivate = hook;
            }
        } else if is_grain_method(f) {
            if let Some(method) = parse_method(f, &grain.self_ty, marker.is_some(), errors) {
                grain.methods.push(method);
            }
        } else if let Some(marker) = marker {
            let why = if f.sig.receiver().is_none() {
                "it takes no `self`"
            } else {
                "it is not `pub`"
            };
            errors.push(syn::Error::new_spanned(
                marker,
                format!(
                    "#[reentrant] marks a grain method, and `{name}` is not one because {why}; \
                     make it a `pub async fn` taking `&self`, or remove #[reentrant]"
                ),
            ));
        }
    }
    whole_ok.then_some(grain)
}

/// A `pub` function with a receiver is a grain method; anything else is left alone.
fn is_grain_method(f: &ImplItemFn) -> bool {
    !matches!(f.vis, Visibility::Inherited) && f.sig.receiver().is_some()
}

/// Checks the receiver: `Some(true)` for `&mut self`, `Some(false)` for `&self`.
fn receiver_mutability(f: &ImplItemFn, errors: &mut Errors) -> Option<bool> {
    let receiver = f.sig.receiver()?;
    match &receiver.kind {
        ReceiverKind::Reference(_, None, mutability) => Some(mutability.is_some()),
        ReceiverKind::Reference(_, Some(lifetime), _) => {
            errors.push(syn::Error::new_spanned(
                lifetime,
                "grain methods take `&self` or `&mut self` without a named lifetime",
            ));
            None
        }
        ReceiverKind::Value => {
            errors.push(syn::Error::new_spanned(
                receiver,
                "grain methods take `&self` or `&mut self`: taking `self` by value would consume the activation's state",
            ));
            None
        }
        _ => {
            errors.push(syn::Error::new_spanned(
                receiver,
                "grain methods take `&self` or `&mut self`",
            ));
            None
        }
    }
}

fn check_async(f: &ImplItemFn, what: &str, errors: &mut Errors) -> bool {
    if f.sig.asyncness.is_some() {
        return true;
    }
    errors.push(syn::Error::new_spanned(
        f.sig.fn_token,
        format!("{what} must be `async fn`: each call runs as a turn that may await"),
    ));
    false
}

fn check_not_generic(f: &ImplItemFn, errors: &mut Errors) -> bool {
    if f.sig.generics.params.is_empty() && f.sig.generics.where_clause.is_none() {
        return true;
    }
    errors.push(syn::Error::new_spanned(
        &f.sig.generics,
        "grain methods cannot be generic: each method becomes one message type",
    ));
    false
}

/// Whether a parameter is the runtime's `ctx: &GrainContext<Self>`; an error if it names
/// `GrainContext` but is not a shared reference to it.
fn is_context(ty: &Type) -> syn::Result<bool> {
    let (reference, inner) = match ty {
        Type::Reference(reference) => (Some(reference), &*reference.elem),
        other => (None, other),
    };
    let Type::Path(path) = inner else {
        return Ok(false);
    };
    let names_context = path
        .path
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "GrainContext");
    if !names_context {
        return Ok(false);
    }
    match reference {
        Some(reference) if reference.mutability.is_none() => Ok(true),
        Some(_) => Err(syn::Error::new_spanned(
            ty,
            "the context is shared by the turns of an activation: take `ctx: &GrainContext<Self>`, without `mut`",
        )),
        None => Err(syn::Error::new_spanned(
            ty,
            "the context belongs to the runtime: take it by reference, `ctx: &GrainContext<Self>`",
        )),
    }
}

fn parse_hook(f: &ImplItemFn, errors: &mut Errors) -> Option<Hook> {
    let asynchronous = check_async(f, "a lifecycle hook", errors);
    let generic_ok = check_not_generic(f, errors);
    if f.sig.receiver().is_none() {
        errors.push(syn::Error::new_spanned(
            &f.sig.ident,
            "lifecycle hooks take `&mut self` (or `&self`) and optionally `ctx: &GrainContext<Self>`",
        ));
        return None;
    }
    let receiver_ok = receiver_mutability(f, errors).is_some();
    let mut takes_ctx = false;
    let mut args_ok = true;
    for arg in f.sig.inputs.iter().skip(1) {
        let context = match arg {
            FnArg::Typed(typed) => is_context(&typed.ty),
            FnArg::Receiver(_) => Ok(false),
        };
        match context {
            Ok(true) if !takes_ctx => takes_ctx = true,
            Err(error) => {
                errors.push(error);
                args_ok = false;
            }
            _ => {
                errors.push(syn::Error::new_spanned(
                    arg,
                    "lifecycle hooks take no arguments besides `ctx: &GrainContext<Self>`",
                ));
                args_ok = false;
            }
        }
    }
    if let ReturnType::Type(_, ty) = &f.sig.output {
        errors.push(syn::Error::new_spanned(
            ty,
            "lifecycle hooks return nothing; remove the return type",
        ));
        args_ok = false;
    }
    (asynchronous && generic_ok && receiver_ok && args_ok).then_some(Hook { takes_ctx })
}

fn parse_method(
    f: &ImplItemFn,
    self_ty: &Type,
    reentrant: bool,
    errors: &mut Errors,
) -> Option<Method> {
    let name = f.sig.ident.to_string();
    let mut ok = true;
    if RESERVED.contains(&name.as_str()) {
        errors.push(syn::Error::new_spanned(
            &f.sig.ident,
            format!("`{name}` is a method of VirtualActorRef itself, so a grain method with this name could not be called; rename it"),
        ));
        ok = false;
    }
    ok &= check_async(f, "a grain method", errors);
    ok &= check_not_generic(f, errors);
    let mutable = receiver_mutability(f, errors);
    ok &= mutable.is_some();
    if reentrant && mutable == Some(true) {
        errors.push(syn::Error::new_spanned(
            &f.sig.inputs[0],
            "a #[reentrant] method must take `&self`: turns that interleave share the state, so none of them can hold `&mut self`",
        ));
        ok = false;
    }
    let mut args = Vec::new();
    let mut has_ctx = false;
    for arg in f.sig.inputs.iter().skip(1) {
        let FnArg::Typed(typed) = arg else { continue };
        let context = is_context(&typed.ty).unwrap_or_else(|error| {
            errors.push(error);
            ok = false;
            true
        });
        if context {
            if has_ctx {
                errors.push(syn::Error::new_spanned(
                    typed,
                    "a grain method takes `&GrainContext<Self>` at most once",
                ));
                ok = false;
            }
            has_ctx = true;
            args.push(Arg::Context(typed.pat.span()));
            continue;
        }
        match check_value_type(&typed.ty, "argument") {
            Ok(()) => args.push(Arg::Value(Box::new(replace_self(&typed.ty, self_ty)))),
            Err(e) => {
                errors.push(e);
                ok = false;
            }
        }
    }
    let output = match &f.sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => match check_value_type(ty, "return type") {
            Ok(()) => Some(replace_self(ty, self_ty)),
            Err(e) => {
                errors.push(e);
                ok = false;
                None
            }
        },
    };
    let docs = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect();
    ok.then(|| Method {
        ident: f.sig.ident.clone(),
        docs,
        mutable: mutable == Some(true),
        reentrant,
        args,
        output,
    })
}

/// Rejects the types a message can never carry; serializability is checked by the compiler.
fn check_value_type(ty: &Type, what: &str) -> syn::Result<()> {
    match ty {
        Type::Reference(_) => Err(syn::Error::new_spanned(
            ty,
            format!(
                "a grain method {what} must be owned: a message outlives the caller's borrow, so use an owned type such as `String` or `Vec<T>`"
            ),
        )),
        Type::ImplTrait(_) => Err(syn::Error::new_spanned(
            ty,
            format!(
                "a grain method {what} cannot be `impl Trait`: messages need one concrete, serializable type"
            ),
        )),
        _ => Ok(()),
    }
}

/// `ty` with every `Self` replaced by the grain's type, for use outside the impl block.
fn replace_self(ty: &Type, self_ty: &Type) -> Type {
    struct ReplaceSelf<'a>(&'a Type);
    impl VisitMut for ReplaceSelf<'_> {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::Path(p) = ty
                && p.qself.is_none()
                && p.path.is_ident("Self")
            {
                *ty = self.0.clone();
                return;
            }
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
    let mut ty = ty.clone();
    ReplaceSelf(self_ty).visit_type_mut(&mut ty);
    ty
}
