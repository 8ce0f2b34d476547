//! The target's data: users, threads and messages, built for concurrency.
//!
//! Users and threads live in sharded maps (`DashMap`), so two users' requests rarely meet on a
//! lock; each user's own mutable state (thread list, quota, bucket) sits behind that user's own
//! mutex. Lock order, where two are held: a user's mutex, then a thread shard. No path takes a
//! thread shard and then a user mutex.

use std::sync::{Arc, Mutex, MutexGuard};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use dashmap::mapref::one::RefMut;
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::limits::{Bucket, PlanTier, Quota};
use super::tokens::now_secs;

/// A random (version 4) id.
pub fn new_id() -> Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub plan: PlanTier,
    pub password_hash: String,
    state: Mutex<UserState>,
}

pub struct UserState {
    /// Thread ids in creation order (the API lists them newest first).
    pub threads: Vec<Uuid>,
    pub default_thread: Option<Uuid>,
    pub quota: Quota,
    pub bucket: Bucket,
}

impl User {
    /// This user's state. A poisoned lock only means another request panicked mid-update of
    /// plain counters; the data is still usable, so serving goes on.
    pub fn state(&self) -> MutexGuard<'_, UserState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "email": self.email, "name": self.name, "plan_tier": self.plan})
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Clone, Debug, Serialize)]
pub struct Message {
    pub id: Uuid,
    pub thread_id: Uuid,
    pub role: Role,
    pub content: String,
    pub created_at: u64,
}

pub struct Thread {
    pub id: Uuid,
    pub owner: Uuid,
    pub title: String,
    pub metadata: Map<String, Value>,
    pub created_at: u64,
    pub updated_at: u64,
    pub messages: Vec<Message>,
}

impl Thread {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "message_count": self.messages.len(),
            "metadata": self.metadata,
        })
    }

    pub fn to_json_with_messages(&self) -> Value {
        let mut v = self.to_json();
        v["messages"] = json!(self.messages);
        v
    }

    /// Applies a client's title and metadata. `metadata.user_id` is the server's: a client can
    /// neither set nor change the owner.
    pub fn update(&mut self, title: Option<String>, metadata: Option<Map<String, Value>>) {
        if let Some(title) = title {
            self.title = title;
        }
        if let Some(metadata) = metadata {
            self.metadata.extend(metadata);
        }
        self.metadata.insert("user_id".into(), json!(self.owner));
        self.updated_at = now_secs();
    }
}

/// Why a thread lookup failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    NotFound,
    Forbidden,
}

pub struct Store {
    users: DashMap<Uuid, Arc<User>>,
    by_email: DashMap<String, Uuid>,
    threads: DashMap<Uuid, Thread>,
    burst: u32,
}

impl Store {
    pub fn new(burst: u32) -> Store {
        Store { users: DashMap::new(), by_email: DashMap::new(), threads: DashMap::new(), burst }
    }

    /// Adds a user unless the (lower-cased) email is taken.
    pub fn register(
        &self,
        email: &str,
        name: String,
        plan: PlanTier,
        password_hash: String,
    ) -> Option<Arc<User>> {
        let Entry::Vacant(slot) = self.by_email.entry(email.to_lowercase()) else {
            return None;
        };
        let user = Arc::new(User {
            id: new_id(),
            email: slot.key().clone(),
            name,
            plan,
            password_hash,
            state: Mutex::new(UserState {
                threads: Vec::new(),
                default_thread: None,
                quota: Quota::default(),
                bucket: Bucket::full(self.burst),
            }),
        });
        self.users.insert(user.id, user.clone());
        slot.insert(user.id);
        Some(user)
    }

    /// Adds a user whatever its email (s1's dev login: every call a new user, all sharing one
    /// email); the email index keeps the first user who had it.
    pub fn add_user(&self, id: Uuid, email: &str, name: String, plan: PlanTier) -> Arc<User> {
        let user = Arc::new(User {
            id,
            email: email.to_lowercase(),
            name,
            plan,
            password_hash: String::new(),
            state: Mutex::new(UserState {
                threads: Vec::new(),
                default_thread: None,
                quota: Quota::default(),
                bucket: Bucket::full(self.burst),
            }),
        });
        self.users.entry(id).or_insert_with(|| user.clone());
        self.by_email.entry(email.to_lowercase()).or_insert(id);
        self.user(id).unwrap_or(user)
    }

    pub fn by_email(&self, email: &str) -> Option<Arc<User>> {
        let id = *self.by_email.get(&email.to_lowercase())?;
        self.user(id)
    }

    pub fn user(&self, id: Uuid) -> Option<Arc<User>> {
        self.users.get(&id).map(|u| u.clone())
    }

    pub fn create_thread(
        &self,
        user: &User,
        title: Option<String>,
        metadata: Option<Map<String, Value>>,
    ) -> Value {
        let mut state = user.state();
        self.insert_thread(user, &mut state, title, metadata).1
    }

    fn insert_thread(
        &self,
        user: &User,
        state: &mut UserState,
        title: Option<String>,
        metadata: Option<Map<String, Value>>,
    ) -> (Uuid, Value) {
        let now = now_secs();
        let mut thread = Thread {
            id: new_id(),
            owner: user.id,
            title: String::new(),
            metadata: Map::new(),
            created_at: now,
            updated_at: now,
            messages: Vec::new(),
        };
        thread.update(Some(title.unwrap_or_else(|| "New conversation".into())), metadata);
        let (id, json) = (thread.id, thread.to_json());
        state.threads.push(id);
        self.threads.insert(id, thread);
        (id, json)
    }

    /// The user's default chat thread (used by WebSocket messages without `thread_id`),
    /// created on first use.
    pub fn default_thread(&self, user: &User) -> Uuid {
        let mut state = user.state();
        if let Some(id) = state.default_thread.filter(|id| self.threads.contains_key(id)) {
            return id;
        }
        let (id, _) = self.insert_thread(user, &mut state, Some("Default conversation".into()), None);
        state.default_thread = Some(id);
        id
    }

    /// A thread the caller may act on: 404 when it does not exist, 403 when it is another
    /// user's (unless `allow_foreign`, the `idor` fault). The guard holds one shard: keep it short.
    pub fn thread_mut(
        &self,
        caller: Uuid,
        id: Uuid,
        allow_foreign: bool,
    ) -> Result<RefMut<'_, Uuid, Thread>, Denied> {
        let thread = self.threads.get_mut(&id).ok_or(Denied::NotFound)?;
        if thread.owner != caller && !allow_foreign {
            return Err(Denied::Forbidden);
        }
        Ok(thread)
    }

    /// A thread's title, if the thread exists.
    pub fn title_of(&self, id: Uuid) -> Option<String> {
        self.threads.get(&id).map(|t| t.title.clone())
    }

    pub fn delete_thread(&self, caller: Uuid, id: Uuid, allow_foreign: bool) -> Result<(), Denied> {
        let owner = self.thread_mut(caller, id, allow_foreign)?.owner;
        self.threads.remove(&id);
        if let Some(owner) = self.user(owner) {
            let mut state = owner.state();
            state.threads.retain(|t| *t != id);
            if state.default_thread == Some(id) {
                state.default_thread = None;
            }
        }
        Ok(())
    }

    /// Appends a message to a thread that exists (ownership was checked by the caller).
    pub fn append(&self, thread_id: Uuid, role: Role, content: String) -> Option<Message> {
        let mut thread = self.threads.get_mut(&thread_id)?;
        let message = Message { id: new_id(), thread_id, role, content, created_at: now_secs() };
        thread.messages.push(message.clone());
        thread.updated_at = message.created_at;
        Some(message)
    }

    /// The user's threads, newest first, as JSON.
    pub fn list(&self, user: &User, limit: usize, offset: usize) -> Vec<Value> {
        let ids: Vec<Uuid> = user.state().threads.iter().rev().skip(offset).take(limit).copied().collect();
        ids.iter().filter_map(|id| self.threads.get(id).map(|t| t.to_json())).collect()
    }

    /// Every thread of the user with its messages, for the export.
    pub fn threads_with_messages(&self, user: &User) -> Vec<Value> {
        let ids = user.state().threads.clone();
        ids.iter().filter_map(|id| self.threads.get(id).map(|t| t.to_json_with_messages())).collect()
    }

    /// Up to `n` threads owned by someone other than `caller`: what the leak faults expose.
    pub fn foreign_threads(&self, caller: Uuid, n: usize, with_messages: bool) -> Vec<Value> {
        self.threads
            .iter()
            .filter(|t| t.owner != caller && (!with_messages || !t.messages.is_empty()))
            .take(n)
            .map(|t| if with_messages { t.to_json_with_messages() } else { t.to_json() })
            .collect()
    }
}
