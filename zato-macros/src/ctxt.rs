//! The error collector, after serde_derive's `internals/ctxt.rs`: parsing and checking go on past
//! a mistake, so that one build reports every mistake in the input rather than the first.

use std::fmt::Display;

use quote::ToTokens;

/// The errors found in one macro input so far.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    /// Records `message`, pointing at `tokens`.
    pub(crate) fn error_spanned_by(&mut self, tokens: impl ToTokens, message: impl Display) {
        // Through a token stream, so that `new_spanned` is compiled once per message type and not
        // once per kind of token too.
        self.errors
            .push(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records one of syn's parse errors.
    pub(crate) fn syn_error(&mut self, err: syn::Error) {
        self.errors.push(err);
    }

    /// All the errors recorded, combined into one, or `Ok` when there are none.
    pub(crate) fn check(self) -> syn::Result<()> {
        let mut errors = self.errors.into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for rest in errors {
            combined.combine(rest);
        }
        Err(combined)
    }
}
