//! `DataInfoId`: the key every publisher and subscriber is filed under.

use super::Text;
use std::fmt;

/// Separator between the three parts in the printable (and hashed) form.
pub const SEPARATOR: &str = "#@#";

wire_struct! {
    /// A service key: `(data_id, instance_id, group)`, printed as
    /// `data_id#@#instance_id#@#group`.
    #[derive(PartialOrd, Ord, Hash)]
    pub struct DataInfoId {
        /// The service name, e.g. `com.example.OrderService:1.0`.
        pub data_id: Text,
        /// The tenant or environment the service belongs to.
        pub instance_id: Text,
        /// A further grouping inside the instance.
        pub group: Text,
    }
}

impl DataInfoId {
    /// A key from its three parts.
    pub fn new(
        data_id: impl Into<Text>,
        instance_id: impl Into<Text>,
        group: impl Into<Text>,
    ) -> Self {
        DataInfoId {
            data_id: data_id.into(),
            instance_id: instance_id.into(),
            group: group.into(),
        }
    }

    /// Parses the printable form. `None` unless there are exactly three parts.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split(SEPARATOR);
        let (data_id, instance_id, group) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(DataInfoId::new(data_id, instance_id, group))
    }
}

impl fmt::Display for DataInfoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{SEPARATOR}{}{SEPARATOR}{}",
            self.data_id, self.instance_id, self.group
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_form_roundtrips() {
        let id = DataInfoId::new("svc", "DEFAULT_INSTANCE_ID", "DEFAULT_GROUP");
        let s = id.to_string();
        assert_eq!(s, "svc#@#DEFAULT_INSTANCE_ID#@#DEFAULT_GROUP");
        assert_eq!(DataInfoId::parse(&s), Some(id));
        assert_eq!(DataInfoId::parse("a#@#b"), None);
        assert_eq!(DataInfoId::parse("a#@#b#@#c#@#d"), None);
    }
}
