//! `toggle(..)`: a degraded mode switched by name, declared in `policy!` (`static
//! RECOMMENDATIONS_OFF: Toggle = toggle();`) and named by a fallback's `degraded` option. No
//! attribute is named after it.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{LitStr, Path};

use super::declared::Declared;
use super::prelude::*;

/// The options of `toggle(..)`.
#[derive(Default)]
pub struct Toggle {
    pub on: Option<S<bool>>,
    pub name: Option<LitStr>,
    pub krate: Option<Path>,
}

impl Declared for Toggle {
    const CTOR: &'static str = "toggle";
    const TYPE: &'static str = "Toggle";
    const EXAMPLE: &'static str = "toggle(on = false)";
    const WHAT: &'static str = "a toggle";

    fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt) {
        if key == "on" {
            self.on = boolean(value, key, cx);
        }
    }

    fn common(&mut self) -> (&mut Option<LitStr>, &mut Option<Path>) {
        (&mut self.name, &mut self.krate)
    }

    fn builder_calls(&self) -> TokenStream {
        match self.on {
            Some(on) => {
                let on = on.value;
                quote!(.on(#on))
            }
            None => TokenStream::new(),
        }
    }
}
