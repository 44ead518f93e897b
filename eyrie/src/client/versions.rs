//! `eyrie deployment versions|diff`: the history of a deployment's key fields.

use eyrie_proto::v1::{DiffVersionsRequest, DiffVersionsResponse, ListVersionsRequest};

use super::{
    Context, all_pages,
    error::CliError,
    output::{Format, Label as _, outln, print_table, time},
};

pub async fn list(deployment: String, context: &Context) -> Result<(), CliError> {
    let client = context.connection.versions();
    let versions = all_pages(|page_token| {
        let mut client = client.clone();
        let parent = deployment.clone();
        async move {
            let page = client
                .list_versions(ListVersionsRequest {
                    parent,
                    page_size: 0,
                    page_token,
                })
                .await?
                .into_inner();
            Ok((page.versions, page.next_page_token))
        }
    })
    .await?;
    context.output.list(
        &versions,
        &["VERSION", "REASON", "CHANGED", "ACTOR", "TIME"],
        |v| {
            let reason = match v.rollback_to_version {
                0 => v.reason().label(),
                earlier => format!("{} to {earlier}", v.reason().label()),
            };
            vec![
                v.number.to_string(),
                reason,
                v.changed_fields.join(","),
                v.actor.clone(),
                time(v.create_time.as_ref()),
            ]
        },
    );
    Ok(())
}

pub async fn diff(deployment: &str, from: i64, to: i64, context: &Context) -> Result<(), CliError> {
    let diff = context
        .connection
        .versions()
        .diff_versions(DiffVersionsRequest {
            from: format!("{deployment}/versions/{from}"),
            to: format!("{deployment}/versions/{to}"),
        })
        .await?
        .into_inner();
    match context.output.format {
        Format::Json => outln!("{:#}", super::output::to_json(&diff)),
        Format::Text => print_diff(&diff),
    }
    Ok(())
}

fn print_diff(diff: &DiffVersionsResponse) {
    if diff.changes.is_empty() {
        outln!("no key field differs");
        return;
    }
    let rows: Vec<_> = diff
        .changes
        .iter()
        .map(|change| {
            vec![
                change.field.clone(),
                change.kind().label(),
                change.old_value.clone(),
                change.new_value.clone(),
            ]
        })
        .collect();
    let from = diff.from.as_ref().map_or(0, |v| v.number);
    let to = diff.to.as_ref().map_or(0, |v| v.number);
    print_table(
        &[
            "FIELD",
            "CHANGE",
            &format!("VERSION {from}"),
            &format!("VERSION {to}"),
        ],
        &rows,
    );
}
