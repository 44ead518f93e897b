//! Step conditions (`if:`): Jinja expressions evaluated like the step's arguments, with the
//! same names, strictness and fuel.

use super::{TemplateContext, Templates, describe, outside_context};

impl Templates {
    /// Tells whether `expression` is true (Jinja's truthiness) in `context`. An undefined value
    /// is an error here too, even as the whole result: `deployment.parameters.typo` must not
    /// quietly skip a step.
    pub fn condition_holds(
        &self,
        expression: &str,
        context: &TemplateContext<'_>,
    ) -> Result<bool, String> {
        let compiled = self
            .env
            .compile_expression(expression)
            .map_err(|err| describe(&err, expression))?;
        let value = compiled
            .eval(minijinja::Value::from(minijinja::value::Serde(context)))
            .map_err(|err| describe(&err, expression))?;
        if value.is_undefined() {
            return Err(format!("undefined value: `{}`", expression.trim()));
        }
        Ok(value.is_true())
    }

    /// Top-level names `expression` uses that the context does not define, or a syntax error.
    pub fn unknown_names_in_condition(&self, expression: &str) -> Result<Vec<String>, String> {
        let compiled = self
            .env
            .compile_expression(expression)
            .map_err(|err| describe(&err, expression))?;
        Ok(outside_context(compiled.undeclared_variables(false)))
    }
}

/// Why a step whose condition is false did not run, as its event says it.
pub fn false_condition(expression: &str) -> String {
    format!("{:?} is false", expression.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::snapshot::sample_snapshot;

    fn holds(expression: &str, parameters: &[(&str, &str)]) -> Result<bool, String> {
        let snapshot = sample_snapshot(parameters);
        let context = TemplateContext::new(&snapshot, &snapshot.clusters[0], "deploy");
        Templates::default().condition_holds(expression, &context)
    }

    #[test]
    fn conditions_follow_jinja_truthiness() {
        let host = "not deployment.parameters.ingress_host";
        assert_eq!(holds(host, &[("ingress_host", "")]), Ok(true));
        assert_eq!(holds(host, &[("ingress_host", "shop.example")]), Ok(false));
        assert_eq!(
            holds("deployment.parameters.n | int", &[("n", "0")]),
            Ok(false)
        );
        assert_eq!(holds("deployment.clusters", &[]), Ok(true));
        assert_eq!(holds("action == 'drop'", &[]), Ok(false));
        assert_eq!(holds("cluster.driver == 'directory'", &[]), Ok(true));
        assert_eq!(
            holds("deployment.parameters.x is defined", &[]),
            Ok(false),
            "`is defined` is the way to test an optional parameter"
        );
    }

    #[test]
    fn an_undefined_parameter_is_an_error_not_false() {
        for expression in [
            "deployment.parameters.ingress_host",
            "not deployment.parameters.ingress_host",
            "deployment.parameters.ingress_host == ''",
        ] {
            let err = holds(expression, &[]).unwrap_err();
            assert!(err.contains("undefined"), "{expression}: {err}");
        }
        let err = holds("deployment.imagee", &[]).unwrap_err();
        assert!(err.contains("undefined"), "{err}");
    }

    #[test]
    fn conditions_burn_the_same_fuel_and_refuse_the_same_filters() {
        let err = holds("('x' * 100000000) | length", &[]).unwrap_err();
        assert!(err.contains("fuel"), "{err}");
        let err = holds("deployment.slug | safe", &[]).unwrap_err();
        assert!(err.contains("safe filter is not available"), "{err}");
    }

    #[test]
    fn unknown_names_and_syntax_errors_are_found_without_evaluating() {
        let templates = Templates::default();
        assert_eq!(
            templates
                .unknown_names_in_condition("deploymnet.parameters.x and namespace")
                .unwrap(),
            ["deploymnet"]
        );
        assert!(
            templates
                .unknown_names_in_condition("not deployment.parameters.x")
                .unwrap()
                .is_empty()
        );
        for bad in ["deployment.slug ==", "{{ deployment.slug }}", ""] {
            assert!(
                templates.unknown_names_in_condition(bad).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(
            false_condition(" not deployment.parameters.ingress_host\n"),
            r#""not deployment.parameters.ingress_host" is false"#
        );
    }
}
