//! Jobs, their steps, their events and their step logs.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .col(ColumnDef::new(Jobs::Id).text().not_null().primary_key())
                    .col(ColumnDef::new(Jobs::Name).text().not_null().unique_key())
                    .col(ColumnDef::new(Jobs::Deployment).text().not_null())
                    .col(ColumnDef::new(Jobs::Operation).text().not_null())
                    .col(ColumnDef::new(Jobs::Action).text().not_null())
                    .col(ColumnDef::new(Jobs::Phase).text().not_null())
                    .col(ColumnDef::new(Jobs::Book).text().not_null())
                    // The exact book the job runs: later edits of the book never change it.
                    .col(ColumnDef::new(Jobs::BookContent).text().not_null())
                    .col(ColumnDef::new(Jobs::Snapshot).text().not_null())
                    .col(ColumnDef::new(Jobs::Status).text().not_null())
                    .col(ColumnDef::new(Jobs::Message).text().not_null())
                    .col(ColumnDef::new(Jobs::Actor).text().not_null())
                    // The same request id always returns the same job.
                    .col(
                        ColumnDef::new(Jobs::RequestId)
                            .text()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Jobs::RetryOf).text().null())
                    .col(ColumnDef::new(Jobs::ResumeFrom).integer().not_null())
                    .col(
                        ColumnDef::new(Jobs::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Jobs::StartedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Jobs::EndedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Jobs::LeaseOwner).text().null())
                    // Fencing token: bumped by every claim, checked by every write of a worker.
                    .col(ColumnDef::new(Jobs::LeaseEpoch).big_integer().not_null())
                    .col(
                        ColumnDef::new(Jobs::LeaseExpiresAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Jobs::CancelRequested).boolean().not_null())
                    .col(ColumnDef::new(Jobs::LastSequence).big_integer().not_null())
                    // Outbox of the outcome report to deployment-svc: none, pending, acknowledged.
                    .col(ColumnDef::new(Jobs::ReportState).text().not_null())
                    .col(ColumnDef::new(Jobs::ReportAttempts).integer().not_null())
                    .col(
                        ColumnDef::new(Jobs::NextReportAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("jobs_claim_idx", vec![Jobs::Status, Jobs::CreatedAt]),
            (
                "jobs_deployment_idx",
                vec![Jobs::Deployment, Jobs::CreatedAt],
            ),
            (
                "jobs_report_idx",
                vec![Jobs::ReportState, Jobs::NextReportAt],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Jobs::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(JobSteps::Table)
                    .col(ColumnDef::new(JobSteps::JobId).text().not_null())
                    .col(ColumnDef::new(JobSteps::StepIndex).integer().not_null())
                    .col(ColumnDef::new(JobSteps::Name).text().not_null())
                    .col(ColumnDef::new(JobSteps::Uses).text().not_null())
                    .col(ColumnDef::new(JobSteps::Status).text().not_null())
                    .col(ColumnDef::new(JobSteps::Attempts).integer().not_null())
                    .col(
                        ColumnDef::new(JobSteps::StartedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(JobSteps::EndedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(JobSteps::Message).text().not_null())
                    .col(ColumnDef::new(JobSteps::LogLines).big_integer().not_null())
                    .col(ColumnDef::new(JobSteps::LogTruncated).boolean().not_null())
                    .primary_key(
                        Index::create()
                            .col(JobSteps::JobId)
                            .col(JobSteps::StepIndex),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(JobSteps::Table, JobSteps::JobId)
                            .to(Jobs::Table, Jobs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(JobEvents::Table)
                    .col(ColumnDef::new(JobEvents::JobId).text().not_null())
                    .col(ColumnDef::new(JobEvents::Sequence).big_integer().not_null())
                    .col(
                        ColumnDef::new(JobEvents::Time)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(JobEvents::Payload).text().not_null())
                    // One event per sequence number: never two, never out of order.
                    .primary_key(
                        Index::create()
                            .col(JobEvents::JobId)
                            .col(JobEvents::Sequence),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(JobEvents::Table, JobEvents::JobId)
                            .to(Jobs::Table, Jobs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(StepLogs::Table)
                    .col(ColumnDef::new(StepLogs::JobId).text().not_null())
                    .col(ColumnDef::new(StepLogs::StepIndex).integer().not_null())
                    .col(ColumnDef::new(StepLogs::Number).big_integer().not_null())
                    .col(ColumnDef::new(StepLogs::Attempt).integer().not_null())
                    .col(
                        ColumnDef::new(StepLogs::Time)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(StepLogs::Text).text().not_null())
                    .primary_key(
                        Index::create()
                            .col(StepLogs::JobId)
                            .col(StepLogs::StepIndex)
                            .col(StepLogs::Number),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(StepLogs::Table, StepLogs::JobId)
                            .to(Jobs::Table, Jobs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            StepLogs::Table.into_iden(),
            JobEvents::Table.into_iden(),
            JobSteps::Table.into_iden(),
            Jobs::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    Name,
    Deployment,
    Operation,
    Action,
    Phase,
    Book,
    BookContent,
    Snapshot,
    Status,
    Message,
    Actor,
    RequestId,
    RetryOf,
    ResumeFrom,
    CreatedAt,
    StartedAt,
    EndedAt,
    LeaseOwner,
    LeaseEpoch,
    LeaseExpiresAt,
    CancelRequested,
    LastSequence,
    ReportState,
    ReportAttempts,
    NextReportAt,
}

#[derive(DeriveIden)]
enum JobSteps {
    Table,
    JobId,
    StepIndex,
    Name,
    Uses,
    Status,
    Attempts,
    StartedAt,
    EndedAt,
    Message,
    LogLines,
    LogTruncated,
}

#[derive(DeriveIden)]
enum JobEvents {
    Table,
    JobId,
    Sequence,
    Time,
    Payload,
}

#[derive(DeriveIden)]
enum StepLogs {
    Table,
    JobId,
    StepIndex,
    Number,
    Attempt,
    Time,
    Text,
}
