//! Route 53 Resolver DNS Firewall.

use hostgate::Action;

use crate::kube::Cx;
use crate::{Options, Read};

pub(crate) fn import(_cx: &mut Cx, _files: &[(&str, &[u8])], _options: &Options) -> Read {
    Read::new(Action::Allow)
}
