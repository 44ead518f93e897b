use super::*;

fn name() -> DeploymentName {
    DeploymentName::parse("n", "projects/acme/groups/web/deployments/shop").unwrap()
}

fn key_fields() -> KeyFields {
    KeyFields {
        repository: "git@github.com:acme/shop.git".into(),
        branch: "main".into(),
        image: "odoo:17.0".into(),
        commit_ref: String::new(),
        clusters: vec!["projects/acme/clusters/eu".into()],
        scope: "projects/acme/scopes/dev".into(),
        parameters: [("db_host".to_owned(), "pg".to_owned())].into(),
    }
}

fn new_deployment(key_fields: KeyFields) -> NewDeployment {
    NewDeployment {
        name: name(),
        display_name: "Shop".into(),
        key_fields,
    }
}

fn fields_of(violations: &[FieldViolation]) -> Vec<&str> {
    violations.iter().map(|v| v.field.as_str()).collect()
}

#[test]
fn a_well_formed_deployment_has_no_violation() {
    assert!(new_deployment(key_fields()).violations().is_empty());
}

#[test]
fn every_bad_field_is_named() {
    let bad = KeyFields {
        repository: "nope".into(),
        branch: "a..b".into(),
        image: "Odoo".into(),
        commit_ref: "x\u{1}".into(),
        clusters: vec![
            "projects/acme/clusters/eu".into(),
            "projects/other/clusters/us".into(),
            "projects/acme/clusters/eu".into(),
            "clusters/x".into(),
        ],
        scope: "projects/other/scopes/dev".into(),
        parameters: [("db-host".to_owned(), String::new())].into(),
    };
    let violations = NewDeployment {
        display_name: String::new(),
        ..new_deployment(bad)
    }
    .violations();
    assert_eq!(
        fields_of(&violations),
        [
            "deployment.display_name",
            "deployment.scope",
            "deployment.clusters[1]",
            "deployment.clusters[2]",
            "deployment.clusters[3]",
            "deployment.repository",
            "deployment.branch",
            "deployment.image",
            "deployment.commit_ref",
            "deployment.parameters",
        ]
    );
    assert!(violations[2].description.contains("project projects/acme"));
    assert!(violations[3].description.contains("twice"));
}

#[test]
fn clusters_and_scope_are_required() {
    let violations = new_deployment(KeyFields {
        clusters: vec![],
        scope: String::new(),
        ..key_fields()
    })
    .violations();
    assert_eq!(
        fields_of(&violations),
        ["deployment.scope", "deployment.clusters"]
    );
}

#[test]
fn types_decide_which_fields_are_required() {
    let bare = KeyFields {
        repository: String::new(),
        branch: String::new(),
        image: String::new(),
        ..key_fields()
    };
    assert_eq!(
        fields_of(&bare.type_violations(DeploymentType::Odoo)),
        [
            "deployment.repository",
            "deployment.branch",
            "deployment.image"
        ]
    );
    assert_eq!(
        fields_of(&bare.type_violations(DeploymentType::None)),
        ["deployment.image"]
    );
    assert!(bare.type_violations(DeploymentType::Pgo).is_empty());
    assert!(bare.type_violations(DeploymentType::Pxc).is_empty());
    assert!(
        key_fields()
            .type_violations(DeploymentType::Odoo)
            .is_empty()
    );
}

#[test]
fn missing_references_are_named() {
    let existing: HashSet<String> = ["projects/acme/clusters/eu".to_owned()].into();
    let mut fields = key_fields();
    fields.clusters.push("projects/acme/clusters/us".into());
    assert_eq!(
        fields_of(&reference_violations(&fields, false, &existing)),
        ["deployment.scope", "deployment.clusters[1]"]
    );
    assert!(reference_violations(&key_fields(), true, &existing).is_empty());
}

#[test]
fn updates_check_and_apply_only_masked_fields() {
    let now = Utc::now();
    let current = Deployment::draft(
        &new_deployment(key_fields()),
        DeploymentType::Odoo,
        "acme-shop".into(),
        now,
    );
    let update = DeploymentUpdate {
        name: name(),
        etag: None,
        fields: vec![DeploymentField::Image, DeploymentField::Parameters],
        display_name: String::new(),
        key_fields: KeyFields {
            image: "odoo:18.0".into(),
            branch: "not..checked".into(),
            ..KeyFields::default()
        },
    };
    assert!(update.violations().is_empty(), "{:?}", update.violations());
    let next = update.apply(&current);
    assert_eq!(next.key_fields.image, "odoo:18.0");
    assert!(next.key_fields.parameters.is_empty());
    assert_eq!(next.key_fields.branch, "main");
    assert_eq!(next.display_name, "Shop");
    assert_eq!(next.revision, 1);

    let bad = DeploymentUpdate {
        fields: vec![DeploymentField::DisplayName, DeploymentField::Branch],
        ..update
    };
    assert_eq!(
        fields_of(&bad.violations()),
        ["deployment.display_name", "deployment.branch"]
    );
}

#[test]
fn masks_refuse_output_only_and_unknown_fields() {
    assert_eq!(
        DeploymentField::parse("commit_ref").unwrap(),
        DeploymentField::CommitRef
    );
    for output_only in ["state", "revision", "namespace", "etag"] {
        let violation = DeploymentField::parse(output_only).unwrap_err();
        assert_eq!(violation.field, "update_mask");
        assert!(violation.description.contains("output only"));
    }
    assert!(
        DeploymentField::parse("parameters.db_host")
            .unwrap_err()
            .description
            .contains("unknown")
    );
}

#[test]
fn namespaces_are_dns_labels_and_unique_per_name() {
    assert_eq!(namespace_candidates(&name())[0], "acme-shop");
    let long = DeploymentName::parse(
        "n",
        &format!(
            "projects/{}/groups/web/deployments/{}",
            "p".repeat(40),
            "d".repeat(40)
        ),
    )
    .unwrap();
    let candidates = namespace_candidates(&long);
    assert_eq!(candidates.len(), 1);
    let other = DeploymentName {
        group: "db".into(),
        ..long.clone()
    };
    assert_ne!(candidates, namespace_candidates(&other));
    // A cut that would end with '-' is trimmed.
    let dashed = DeploymentName::parse(
        "n",
        &format!(
            "projects/{}-x/groups/g/deployments/{}",
            "a".repeat(53),
            "d".repeat(20)
        ),
    )
    .unwrap();
    for name in [&long, &other, &dashed, &name()] {
        for namespace in namespace_candidates(name) {
            assert!(
                eyrie_platform::names::validate_slug("ns", &namespace).is_ok(),
                "{namespace}"
            );
        }
    }
}
