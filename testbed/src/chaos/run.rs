//! One scenario being played: nodes started, clients running, faults begun and healed on
//! schedule, nodes killed and restarted, then history read as every member.

use super::*;

/// One scenario being played.
pub(super) struct Run<'a> {
    pub(super) testbed: &'a Testbed,
    pub(super) scenario: &'a Scenario,
    pub(super) nodes: Vec<Option<NodeProcess>>,
    pub(super) directory: Directory,
    /// Where the nodes' data dirs are.
    pub(super) data: PathBuf,
    pub(super) t0: Instant,
    pub(super) record: Record,
}

/// A scheduled event: a fault begins, a fault heals, a client hops.
#[derive(Debug)]
enum Event {
    Begin(usize),
    Heal(usize),
}

impl Run<'_> {
    fn now_ms(&self) -> u64 {
        ms(self.t0.elapsed())
    }

    /// A progress line on stderr, stamped with the scenario's time.
    pub(super) fn note(&self, what: &str) {
        harness::report::progress(
            "cookim-testbed",
            &format!(
                "seed {} at {:.1} s: {what}",
                self.scenario.seed,
                self.t0.elapsed().as_secs_f64()
            ),
        );
    }

    fn addr(&self, node: usize) -> Option<SocketAddr> {
        self.directory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node)
            .copied()
            .flatten()
    }

    pub(super) async fn play(&mut self) -> Result<Record> {
        let (users, sid) = self.provision().await?;
        let mut shared = Vec::new();
        let mut controls = Vec::new();
        let mut tasks = Vec::new();
        self.t0 = Instant::now();
        for (index, (user, session_token)) in users.iter().cloned().enumerate() {
            let (tx, rx) = async_channel::unbounded();
            let state = Arc::new(Mutex::new(Shared {
                log: ClientLog {
                    uid: user.uid.clone(),
                    ..ClientLog::default()
                },
                pending: false,
            }));
            let client = Client {
                index,
                user,
                session_token,
                home: self.scenario.homes.get(index).copied().unwrap_or(0),
                send_every: Duration::from_millis(self.scenario.send_every_ms),
                t0: self.t0,
                directory: self.directory.clone(),
                shared: state.clone(),
            };
            tasks.push(smol::spawn(client.run(rx, Duration::from_secs(20))));
            shared.push(state);
            controls.push(tx);
        }

        let mut events: Vec<(Duration, Event)> = Vec::new();
        for (i, step) in self.scenario.steps.iter().enumerate() {
            events.push((step.at, Event::Begin(i)));
            if !step.lasts.is_zero() {
                events.push((step.at + step.lasts, Event::Heal(i)));
            }
        }
        events.sort_by_key(|(at, _)| *at);
        let mut begun = vec![0u64; self.scenario.steps.len()];
        let mut detections = Vec::new();
        for (at, event) in events {
            smol::Timer::at(self.t0 + at).await;
            self.note(&format!("{event:?}"));
            match event {
                Event::Begin(i) => {
                    let Some(step) = self.scenario.steps.get(i) else {
                        continue;
                    };
                    begun[i] = self.now_ms();
                    match &step.fault {
                        Fault::Hop { client, to } => {
                            if let Some(tx) = controls.get(*client) {
                                let _ = tx.send(Control::Hop(*to)).await;
                            }
                        }
                        Fault::Kill { node } => detections.push(self.kill(*node).await?),
                        fault => self.testbed.set_fault(fault, true)?,
                    }
                }
                Event::Heal(i) => {
                    let Some(step) = self.scenario.steps.get(i) else {
                        continue;
                    };
                    match &step.fault {
                        Fault::Kill { node } => self.restart(*node).await?,
                        fault => self.testbed.set_fault(fault, false)?,
                    }
                    let healed = self.now_ms();
                    let took = self
                        .testbed
                        .converge(&self.directory, self.testbed.options.bound)
                        .await
                        .ok();
                    let took_ms = took.map(ms);
                    self.note(&format!("converged after {took_ms:?} ms"));
                    self.record.convergence.push(Probe {
                        what: format!("convergence after: {}", step.fault),
                        kind: step.fault.kind(),
                        took_ms,
                    });
                    self.record.windows.push(Window {
                        fault: step.fault.clone(),
                        from_ms: begun[i],
                        until_ms: healed + took_ms.unwrap_or(self.record.bound_ms),
                    });
                }
            }
        }
        smol::Timer::at(self.t0 + self.scenario.traffic_ends()).await;
        for tx in &controls {
            let _ = tx.send(Control::StopSending).await;
        }
        let drain = Instant::now();
        while drain.elapsed() < DRAIN
            && shared
                .iter()
                .any(|s| s.lock().unwrap_or_else(PoisonError::into_inner).pending)
        {
            smol::Timer::after(POLL).await;
        }
        let stuck: Vec<String> = shared
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s.lock().unwrap_or_else(PoisonError::into_inner);
                s.pending.then(|| {
                    let last = s.log.sent.last();
                    format!(
                        "client {i} (tries {}, via {:?}, connections {:?})",
                        last.map_or(0, |l| l.attempts),
                        last.map(|l| l.via.clone()).unwrap_or_default(),
                        s.log.connections
                    )
                })
            })
            .collect();
        if !stuck.is_empty() {
            self.note(&format!(
                "still unacknowledged after {DRAIN:?}: {}",
                stuck.join("; ")
            ));
        }
        self.note("traffic stopped; reading history");
        let mut end = 0;
        for ((user, _), state) in users.iter().zip(&shared) {
            let history = self.history(user, &sid).await?;
            end = end.max(history.last().map_or(0, |m| m.seq));
            state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .log
                .history = history;
        }
        self.note(&format!("history ends at seq {end}; clients catching up"));
        for tx in &controls {
            let _ = tx.send(Control::Finish(end)).await;
        }
        for task in tasks {
            task.await;
        }
        for detection in detections {
            self.record.detection.push(detection.await);
        }
        self.record.clients = shared
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).log.clone())
            .collect();
        Ok(std::mem::take(&mut self.record))
    }

    /// One user per client, all in one new group; each user's session token for it.
    async fn provision(&self) -> Result<(Vec<(User, String)>, String)> {
        let addr = self
            .addr(0)
            .ok_or_else(|| Error::Setup("node 0 is not up".into()))?;
        let mut users = Vec::new();
        for client in 0..self.scenario.clients {
            let login = format!(
                "t{}s{}c{client}@testbed.example",
                self.testbed.nonce, self.scenario.seed
            );
            users.push(
                within_for(
                    API_TIMEOUT,
                    api::register(addr, &login, &format!("client {client}"), "testbed1"),
                )
                .await?,
            );
        }
        let owner = users
            .first()
            .ok_or_else(|| Error::Setup("a scenario needs clients".into()))?;
        let sid = within_for(
            API_TIMEOUT,
            api::create_group(addr, owner, &format!("seed {}", self.scenario.seed)),
        )
        .await?;
        let mut with_tokens = Vec::new();
        for user in &users {
            if user.uid != owner.uid {
                within_for(API_TIMEOUT, api::join_group(addr, user, &sid)).await?;
            }
            let token = within_for(API_TIMEOUT, api::session_token(addr, user, &sid)).await?;
            with_tokens.push((user.clone(), token));
        }
        Ok((with_tokens, sid))
    }

    /// The whole history as `user` reads it, oldest first, from the first node that answers.
    async fn history(&self, user: &User, sid: &str) -> Result<Vec<Stored>> {
        let mut failed = Vec::new();
        for addr in running(&self.directory) {
            match read_history(addr, user, sid).await {
                Ok(history) => return Ok(history),
                Err(e) => failed.push(format!("{addr}: {e}")),
            }
        }
        Err(Error::Setup(format!(
            "no node gave the history: {}",
            failed.join("; ")
        )))
    }

    /// Kills `node` and starts a probe of how long the others take to see it dead.
    pub(super) async fn kill(&mut self, node: usize) -> Result<smol::Task<Probe>> {
        let victim = match self.addr(node) {
            Some(addr) => view(addr).await.ok().map(|v| v.me),
            None => None,
        };
        if let Some(process) = self.nodes.get_mut(node).and_then(Option::take) {
            let mut process = process;
            process.kill()?;
        }
        let killed = Instant::now();
        if let Some(slot) = self
            .directory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(node)
        {
            *slot = None;
        }
        let others = running(&self.directory);
        let bound = self.testbed.options.bound;
        Ok(smol::spawn(async move {
            let what = format!("node {node} seen dead by the others");
            let Some(victim) = victim else {
                return Probe {
                    what,
                    kind: Kind::Kill,
                    took_ms: None,
                };
            };
            while killed.elapsed() <= bound {
                let mut dead_everywhere = true;
                for &addr in &others {
                    match view(addr).await {
                        Ok(view) => {
                            let alive = view.members.iter().any(|(id, state)| {
                                *id == victim && (state == "Alive" || state == "Suspect")
                            });
                            dead_everywhere &= !alive;
                        }
                        Err(_) => dead_everywhere = false,
                    }
                }
                if dead_everywhere {
                    return Probe {
                        what,
                        kind: Kind::Kill,
                        took_ms: Some(ms(killed.elapsed())),
                    };
                }
                smol::Timer::after(POLL).await;
            }
            Probe {
                what,
                kind: Kind::Kill,
                took_ms: None,
            }
        }))
    }

    /// Starts `node` again on its data dir and ports.
    pub(super) async fn restart(&mut self, node: usize) -> Result<()> {
        let (bin, options) = (
            self.testbed.bin.clone(),
            self.testbed.node_options(node, &self.data),
        );
        let process = smol::unblock(move || NodeProcess::start(&bin, options)).await?;
        if let Some(slot) = self
            .directory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(node)
        {
            *slot = Some(process.web);
        }
        if let Some(slot) = self.nodes.get_mut(node) {
            *slot = Some(process);
        }
        Ok(())
    }
}

/// Pages through `listMessages` with `after` until the end.
async fn read_history(addr: SocketAddr, user: &User, sid: &str) -> Result<Vec<Stored>> {
    let mut history = Vec::new();
    let mut after = 0i64;
    loop {
        let after_text = after.to_string();
        let answer = within_for(
            API_TIMEOUT,
            api::api(
                addr,
                "listMessages",
                &[
                    ("userToken", &user.token),
                    ("sessionid", sid),
                    ("count", "500"),
                    ("after", &after_text),
                ],
            ),
        )
        .await?;
        let page = answer["messages"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return Ok(history);
        }
        for m in &page {
            let seq = m["seq"].as_i64().unwrap_or(0);
            after = after.max(seq);
            history.push(Stored {
                seq,
                uid: field(m, "uid"),
                client_id: m["clientId"].as_str().map(str::to_owned),
            });
        }
    }
}
