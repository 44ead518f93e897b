//! The resource use cases: create, get, list and update projects, scopes, clusters, groups and
//! deployments.

use std::sync::Arc;

use eyrie_platform::{changes::Changes, status::FieldViolation};

use super::peers::BookCatalog;
use crate::{
    domain::{
        DeploymentError,
        names::{ClusterName, DeploymentName, GroupName, ProjectName, ScopeName},
        resources::{
            BOOK_PHASES, BookPhase, Cluster, Deployment, DeploymentGroup, DeploymentQuery,
            DeploymentType, DeploymentUpdate, GroupBooks, GroupField, GroupUpdate, NewCluster,
            NewDeployment, NewGroup, NewProject, NewScope, Page, PageRequest, Project,
            ProjectUpdate, RequestMeta, Scope, book_field,
        },
    },
    store::resources::{
        ResourceStore, find_clusters, find_deployment, find_group, find_project, find_scope,
    },
};

/// How many times a write without etag is tried again when a concurrent change wins.
const WRITE_ATTEMPTS: usize = 3;

/// Creates, reads, lists and updates the resources.
#[derive(Debug, Clone)]
pub struct Resources {
    store: ResourceStore,
    books: Option<Arc<dyn BookCatalog>>,
    /// Told of every deployment written, for the watches.
    changes: Arc<Changes>,
}

impl Resources {
    /// Serves the resources of `store`, telling `changes` of each deployment written. Book
    /// references are checked for their form only until [`Self::with_books`] names a catalog.
    pub fn new(store: ResourceStore, changes: Arc<Changes>) -> Self {
        Self {
            store,
            books: None,
            changes,
        }
    }

    /// Checks that book references exist in `books` and are of the group's type.
    #[must_use]
    pub fn with_books(mut self, books: Arc<dyn BookCatalog>) -> Self {
        self.books = Some(books);
        self
    }

    /// The store, for the lifecycle's own transactions.
    pub fn store(&self) -> &ResourceStore {
        &self.store
    }

    /// The signals of deployment changes, for the watches.
    pub fn changes(&self) -> &Arc<Changes> {
        &self.changes
    }

    /// Creates a project.
    pub async fn create_project(
        &self,
        new: &NewProject,
        meta: &RequestMeta,
    ) -> Result<Project, DeploymentError> {
        self.store.create_project(new, meta).await
    }

    /// The project `name`.
    pub async fn get_project(&self, name: &ProjectName) -> Result<Project, DeploymentError> {
        let name = name.to_string();
        find_project(self.store.db(), &name)
            .await?
            .ok_or_else(|| DeploymentError::not_found("project", name))
    }

    /// A page of projects.
    pub async fn list_projects(
        &self,
        page: &PageRequest,
    ) -> Result<Page<Project>, DeploymentError> {
        let items = self.store.list_projects(&one_more(page)).await?;
        Ok(into_page(items, page.limit, |p| p.name.to_string()))
    }

    /// Creates a scope.
    pub async fn create_scope(
        &self,
        new: &NewScope,
        meta: &RequestMeta,
    ) -> Result<Scope, DeploymentError> {
        self.store.create_scope(new, meta).await
    }

    /// The scope `name`.
    pub async fn get_scope(&self, name: &ScopeName) -> Result<Scope, DeploymentError> {
        let name = name.to_string();
        find_scope(self.store.db(), &name)
            .await?
            .ok_or_else(|| DeploymentError::not_found("scope", name))
    }

    /// A page of the scopes of `project`.
    pub async fn list_scopes(
        &self,
        project: &ProjectName,
        page: &PageRequest,
    ) -> Result<Page<Scope>, DeploymentError> {
        self.get_project(project).await?;
        let items = self.store.list_scopes(project, &one_more(page)).await?;
        Ok(into_page(items, page.limit, |s| s.name.to_string()))
    }

    /// Creates a cluster.
    pub async fn create_cluster(
        &self,
        new: &NewCluster,
        meta: &RequestMeta,
    ) -> Result<Cluster, DeploymentError> {
        self.store.create_cluster(new, meta).await
    }

    /// The cluster `name`.
    pub async fn get_cluster(&self, name: &ClusterName) -> Result<Cluster, DeploymentError> {
        let name = name.to_string();
        find_clusters(self.store.db(), std::slice::from_ref(&name))
            .await?
            .pop()
            .ok_or_else(|| DeploymentError::not_found("cluster", name))
    }

    /// A page of the clusters of `project`.
    pub async fn list_clusters(
        &self,
        project: &ProjectName,
        page: &PageRequest,
    ) -> Result<Page<Cluster>, DeploymentError> {
        self.get_project(project).await?;
        let items = self.store.list_clusters(project, &one_more(page)).await?;
        Ok(into_page(items, page.limit, |c| c.name.to_string()))
    }

    /// Creates a group, its books checked against the catalog (when there is one).
    pub async fn create_group(
        &self,
        new: &NewGroup,
        meta: &RequestMeta,
    ) -> Result<DeploymentGroup, DeploymentError> {
        self.check_books(new.deployment_type, &new.books, &BOOK_PHASES)
            .await?;
        self.store.create_group(new, meta).await
    }

    /// The group `name`.
    pub async fn get_group(&self, name: &GroupName) -> Result<DeploymentGroup, DeploymentError> {
        let name = name.to_string();
        find_group(self.store.db(), &name)
            .await?
            .ok_or_else(|| DeploymentError::not_found("deployment group", name))
    }

    /// A page of the groups of `project`.
    pub async fn list_groups(
        &self,
        project: &ProjectName,
        page: &PageRequest,
    ) -> Result<Page<DeploymentGroup>, DeploymentError> {
        self.get_project(project).await?;
        let items = self.store.list_groups(project, &one_more(page)).await?;
        Ok(into_page(items, page.limit, |g| g.name.to_string()))
    }

    /// Updates a project; without etag, a concurrent update is merged with by trying again.
    pub async fn update_project(&self, update: &ProjectUpdate) -> Result<Project, DeploymentError> {
        retry_unless(update.etag.is_some(), || self.store.update_project(update)).await
    }

    /// Updates a group. New book references are checked against the catalog; without etag, a
    /// concurrent update is merged with by trying again.
    pub async fn update_group(
        &self,
        update: &GroupUpdate,
        meta: &RequestMeta,
    ) -> Result<DeploymentGroup, DeploymentError> {
        let phases: Vec<BookPhase> = update
            .fields
            .iter()
            .filter_map(|field| match field {
                GroupField::Book(phase) => Some(*phase),
                GroupField::DisplayName => None,
            })
            .collect();
        if !phases.is_empty() && self.books.is_some() {
            let group = self.get_group(&update.name).await?;
            let books = update.apply(&group).books;
            self.check_books(group.deployment_type, &books, &phases)
                .await?;
        }
        retry_unless(update.etag.is_some(), || {
            self.store.update_group(update, meta)
        })
        .await
    }

    /// Creates a deployment in draft, its version 1 queued with it.
    pub async fn create_deployment(
        &self,
        new: &NewDeployment,
        meta: &RequestMeta,
    ) -> Result<Deployment, DeploymentError> {
        let created = retry_unless(false, || self.store.create_deployment(new, meta)).await?;
        self.changes.publish(&created.name.to_string()).await;
        Ok(created)
    }

    /// The deployment `name`, dropped or not.
    pub async fn get_deployment(
        &self,
        name: &DeploymentName,
    ) -> Result<Deployment, DeploymentError> {
        let name = name.to_string();
        find_deployment(self.store.db(), &name)
            .await?
            .ok_or_else(|| DeploymentError::not_found("deployment", name))
    }

    /// A page of the deployments of a group.
    pub async fn list_deployments(
        &self,
        query: &DeploymentQuery,
    ) -> Result<Page<Deployment>, DeploymentError> {
        self.get_group(&query.group).await?;
        let fetch = DeploymentQuery {
            page: one_more(&query.page),
            ..query.clone()
        };
        let items = self.store.list_deployments(&fetch).await?;
        Ok(into_page(items, query.page.limit, |d| d.name.to_string()))
    }

    /// Updates a deployment; without etag, a concurrent change is merged with by trying again.
    pub async fn update_deployment(
        &self,
        update: &DeploymentUpdate,
        meta: &RequestMeta,
    ) -> Result<Deployment, DeploymentError> {
        let updated = retry_unless(update.etag.is_some(), || {
            self.store.update_deployment(update, meta)
        })
        .await?;
        self.changes.publish(&updated.name.to_string()).await;
        Ok(updated)
    }

    /// Refuses the books of `phases` that the catalog does not know or that are of another type
    /// than `deployment_type`. Without a catalog, nothing more than their form (checked at the
    /// edge) is known.
    async fn check_books(
        &self,
        deployment_type: DeploymentType,
        books: &GroupBooks,
        phases: &[BookPhase],
    ) -> Result<(), DeploymentError> {
        let Some(catalog) = &self.books else {
            return Ok(());
        };
        let mut violations = Vec::new();
        for phase in phases {
            let book = books.get(*phase);
            let field = format!("deployment_group.{}", book_field(*phase));
            match catalog.book(book).await?.map(|book| book.deployment_type) {
                None => violations.push(FieldViolation::new(
                    field,
                    format!("book {book} does not exist"),
                )),
                Some(found) if found != deployment_type.as_str() => {
                    violations.push(FieldViolation::new(
                        field,
                        format!(
                            "book {book} is of type {found}, the group's type is {}",
                            deployment_type.as_str()
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(DeploymentError::Invalid(violations))
        }
    }
}

/// Runs `write`, again (up to [`WRITE_ATTEMPTS`] times in all) while it loses a race, unless
/// `strict` (the caller sent an etag: then a lost race is theirs to see).
async fn retry_unless<T, F, Fut>(strict: bool, mut write: F) -> Result<T, DeploymentError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DeploymentError>>,
{
    let mut attempt = 1;
    loop {
        match write().await {
            Err(DeploymentError::Conflict(_)) if !strict && attempt < WRITE_ATTEMPTS => {
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// The same page with room for one more item, which tells whether another page follows
/// without a count query.
fn one_more(page: &PageRequest) -> PageRequest {
    PageRequest {
        after: page.after.clone(),
        limit: page.limit + 1,
    }
}

fn into_page<T>(mut items: Vec<T>, limit: u64, name: impl Fn(&T) -> String) -> Page<T> {
    let next_after = if items.len() as u64 > limit {
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        items.last().map(name)
    } else {
        None
    };
    Page { items, next_after }
}
