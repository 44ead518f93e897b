//! What a deployment's id must be for its type's built-in books to succeed.
//!
//! Any DNS-1123 label is a valid id, but the books and the operators derive Kubernetes objects
//! from it whose own limits are tighter. Refusing at creation is the only good moment: the id
//! never changes, and a name that fits nowhere would only fail deep inside a running job (or,
//! worse, after it: a StatefulSet is accepted and then never gets a pod).

use eyrie_platform::violation::FieldViolation;

use super::DeploymentType;

/// The longest id of a `pxc` deployment. The Percona XtraDB Cluster operator refuses a
/// PerconaXtraDBCluster whose name is longer ("cluster name (...) too long, must be no more
/// than 22 characters": `clusterNameMaxLen` in pkg/apis/pxc/v1/pxc_types.go, the same from
/// v1.15 to v1.19), when it reconciles and in its optional admission webhook: without the
/// webhook the API server takes the resource and the book waits for a ready state in vain.
pub const PXC_MAX_ID_LEN: usize = 22;

/// The longest id of a `pgo` deployment. PGO v5 names an instance StatefulSet
/// `<cluster>-<set>-<4 random characters>` (the built-in book's set is `instance1`), and
/// Kubernetes labels its pods `controller-revision-hash: <statefulset>-<10-character hash>`,
/// a label value of at most 63 characters (kubernetes#64023). PGO v5.8 documents the same sum
/// on PostgresInstanceSetSpec.name ("the combined length of this and the cluster name must be
/// 46 characters or less") without checking it: 63 - 1 - 9 - 1 - 4 - 1 - 10. Its other names
/// are shorter: CronJobs `<id>-repo1-full` (52 at most) and the StatefulSet `<id>-repo-host`.
pub const PGO_MAX_ID_LEN: usize = 63 - "-instance1-xxxx".len() - "-".len() - 10;

/// The longest id of an `odoo` deployment: Kubernetes labels the pods of the initialisation
/// Job `<id>-odoo-init` with the Job's name (`job-name`), a label value of at most 63.
pub const ODOO_MAX_ID_LEN: usize = 63 - "-odoo-init".len();

/// What is wrong with `id` as the id of a deployment of `deployment_type`, reported on request
/// field `field`. `id` is already a DNS-1123 label of at most 63 characters.
pub fn id_violations(
    deployment_type: DeploymentType,
    field: &str,
    id: &str,
) -> Vec<FieldViolation> {
    let kind = deployment_type.as_str();
    let article = if kind.starts_with('o') { "an" } else { "a" };
    let mut violations = Vec::new();
    // Every type's books create a Service named after the id, and Service names are DNS-1035
    // labels: a leading digit passes as a namespace or a Secret but not as a Service.
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        let service = match deployment_type {
            DeploymentType::Pgo => "<id>-primary",
            DeploymentType::Pxc => "<id>-haproxy",
            DeploymentType::Odoo | DeploymentType::None => "<id>",
        };
        violations.push(FieldViolation::new(
            field,
            format!(
                "{article} {kind} deployment's id must start with a letter: it names the \
                 Kubernetes Service {service}, and Service names are DNS-1035 labels; {id:?} \
                 starts with a digit"
            ),
        ));
    }
    let (limit, why) = match deployment_type {
        DeploymentType::Pxc => (
            PXC_MAX_ID_LEN,
            "the Percona XtraDB Cluster operator's limit on cluster names",
        ),
        DeploymentType::Pgo => (
            PGO_MAX_ID_LEN,
            "PGO names a StatefulSet <id>-instance1-xxxx, whose pods Kubernetes labels with that \
             name and an 11-character hash, at most 63 characters",
        ),
        DeploymentType::Odoo => (
            ODOO_MAX_ID_LEN,
            "the pods of the initialisation Job <id>-odoo-init are labelled with its name, at \
             most 63 characters",
        ),
        DeploymentType::None => return violations,
    };
    let length = id.len();
    if length > limit {
        violations.push(FieldViolation::new(
            field,
            format!(
                "{article} {kind} deployment's id may have at most {limit} characters ({why}); \
                 {id:?} has {length}"
            ),
        ));
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(length: usize) -> String {
        "a".repeat(length)
    }

    #[test]
    fn limits_follow_the_derived_names() {
        assert_eq!(PXC_MAX_ID_LEN, 22);
        assert_eq!(PGO_MAX_ID_LEN, 37);
        assert_eq!(ODOO_MAX_ID_LEN, 53);
        // The longest names the built-in books and the operators derive stay within limits.
        let longest_statefulset = format!("{}-instance1-abcd", id(PGO_MAX_ID_LEN));
        assert_eq!(format!("{longest_statefulset}-1234567890").len(), 63);
        assert!(
            format!("{}-repo1-full", id(PGO_MAX_ID_LEN)).len() <= 52,
            "CronJob"
        );
        assert!(
            format!("{}-repo-host", id(PGO_MAX_ID_LEN)).len() <= 52,
            "StatefulSet"
        );
        assert!(
            format!("{}-pg-ready", id(PGO_MAX_ID_LEN)).len() <= 63,
            "Job"
        );
        assert_eq!(format!("{}-odoo-init", id(ODOO_MAX_ID_LEN)).len(), 63);
    }

    #[test]
    fn each_type_takes_ids_up_to_its_limit_and_refuses_one_more() {
        for (deployment_type, limit) in [
            (DeploymentType::Pxc, PXC_MAX_ID_LEN),
            (DeploymentType::Pgo, PGO_MAX_ID_LEN),
            (DeploymentType::Odoo, ODOO_MAX_ID_LEN),
            (DeploymentType::None, 63),
        ] {
            let kind = deployment_type.as_str();
            assert_eq!(
                id_violations(deployment_type, "deployment_id", &id(limit)),
                [],
                "{kind}"
            );
            if limit < 63 {
                let [violation] =
                    &id_violations(deployment_type, "deployment_id", &id(limit + 1))[..]
                else {
                    panic!("{kind}: {} characters are not refused once", limit + 1)
                };
                assert_eq!(violation.field, "deployment_id");
                assert!(
                    violation
                        .description
                        .contains(&format!("at most {limit} characters")),
                    "{violation}"
                );
            }
        }
    }

    #[test]
    fn the_pxc_refusal_names_the_operator() {
        let violations = id_violations(DeploymentType::Pxc, "deployment_id", &id(23));
        assert_eq!(
            violations[0].to_string(),
            format!(
                "deployment_id: a pxc deployment's id may have at most 22 characters (the \
                 Percona XtraDB Cluster operator's limit on cluster names); {:?} has 23",
                id(23)
            )
        );
    }

    #[test]
    fn ids_start_with_a_letter_for_every_type() {
        for deployment_type in DeploymentType::ALL {
            let [violation] = &id_violations(deployment_type, "deployment_id", "0day")[..] else {
                panic!("{deployment_type:?}: a leading digit is not refused once")
            };
            assert_eq!(violation.field, "deployment_id");
            assert!(
                violation.description.contains("must start with a letter"),
                "{violation}"
            );
            assert_eq!(id_violations(deployment_type, "deployment_id", "a0"), []);
            assert_eq!(id_violations(deployment_type, "deployment_id", "z"), []);
        }
        let odoo = id_violations(DeploymentType::Odoo, "deployment_id", "1shop");
        assert!(odoo[0].description.starts_with("an odoo"), "{odoo:?}");
        // A name both too long and starting with a digit is told both.
        let both = id_violations(
            DeploymentType::Pxc,
            "deployment_id",
            &format!("1{}", id(22)),
        );
        assert_eq!(both.len(), 2, "{both:?}");
    }
}
