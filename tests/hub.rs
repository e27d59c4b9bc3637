//! Loading by hub id against a hub on the loopback address: a small HTTP server that serves
//! fixture directories with the hub's URL layout (`/api/models/{repo}/revision/{rev}` for the
//! file list and commit, `/{repo}/resolve/{rev}/{file}` with `ETag`, `X-Repo-Commit` and ranged
//! reads), since our machines reach no hub. Needs `--features hub`.
#![cfg(feature = "hub")]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use common::{fixture, max_abs_diff};
use phi3::device::{Cpu, cpu};
use phi3::hub::HubOptions;
use phi3::prelude::*;

/// One repository revision: its commit and its files.
struct Revision {
    sha: String,
    files: BTreeMap<String, PathBuf>,
}

/// The loopback hub: `repos[(repo, revision)]`, and every request path it answered.
struct Hub {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Hub {
    fn start(repos: Vec<((&str, &str), Revision)>) -> Hub {
        let repos: Arc<BTreeMap<(String, String), Revision>> = Arc::new(
            repos
                .into_iter()
                .map(|((r, v), rev)| ((r.to_string(), v.to_string()), rev))
                .collect(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (repos, log) = (repos.clone(), log.clone());
                std::thread::spawn(move || serve(stream, &repos, &log));
            }
        });
        Hub { url, requests }
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

fn dir_files(dir: &str) -> BTreeMap<String, PathBuf> {
    std::fs::read_dir(fixture(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "expected.json")
        .map(|p| (p.file_name().unwrap().to_str().unwrap().to_string(), p))
        .collect()
}

/// Answers one request (then closes the connection).
fn serve(
    stream: TcpStream,
    repos: &BTreeMap<(String, String), Revision>,
    log: &Mutex<Vec<String>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range: Option<(u64, Option<u64>)> = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap() == 0 || header.trim().is_empty() {
            break;
        }
        if let Some(v) = header.to_ascii_lowercase().strip_prefix("range: bytes=") {
            let (start, end) = v.trim().split_once('-').unwrap();
            range = Some((start.parse().unwrap(), end.parse().ok()));
        }
    }
    log.lock().unwrap().push(path.clone());
    let mut out = stream;
    let reply = |out: &mut TcpStream, status: &str, headers: &[(String, String)], body: &[u8]| {
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let _ = out.write_all(head.as_bytes());
        let _ = out.write_all(body);
    };
    let not_found = |out: &mut TcpStream| {
        reply(
            out,
            "404 Not Found",
            &[("Content-Type".into(), "application/json".into())],
            br#"{"error":"Repository not found"}"#,
        )
    };
    // /api/models/{org}/{name}/revision/{rev}
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let parts: Vec<&str> = rest.split('/').collect();
        if let [org, name, "revision", rev] = parts[..]
            && let Some(r) = repos.get(&(format!("{org}/{name}"), rev.replace("%2F", "/")))
        {
            let siblings: Vec<_> = r
                .files
                .keys()
                .map(|f| serde_json::json!({ "rfilename": f }))
                .collect();
            let body = serde_json::json!({ "sha": r.sha, "siblings": siblings }).to_string();
            return reply(
                &mut out,
                "200 OK",
                &[("Content-Type".into(), "application/json".into())],
                body.as_bytes(),
            );
        }
        return not_found(&mut out);
    }
    // /{org}/{name}/resolve/{rev}/{file}
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    if let [org, name, "resolve", rev, file] = parts[..]
        && let Some(r) = repos.get(&(format!("{org}/{name}"), rev.replace("%2F", "/")))
        && let Some(local) = r.files.get(file)
    {
        let bytes = std::fs::read(local).unwrap();
        let total = bytes.len() as u64;
        // An ETag per content, as the hub's (a hash of the bytes).
        let etag = format!(
            "\"{:016x}\"",
            bytes
                .iter()
                .fold(0xcbf29ce484222325u64, |h, &b| (h ^ b as u64)
                    .wrapping_mul(0x100000001b3))
        );
        let mut headers = vec![
            ("ETag".to_string(), etag),
            ("X-Repo-Commit".to_string(), r.sha.clone()),
        ];
        return match range {
            // `bytes=0-0` is the metadata request; `bytes=N-` a (resumed) download.
            Some((start, end)) => {
                let start = start.min(total);
                let end = end
                    .unwrap_or(total.saturating_sub(1))
                    .min(total.saturating_sub(1));
                headers.push((
                    "Content-Range".into(),
                    format!("bytes {start}-{end}/{total}"),
                ));
                let body = &bytes[start as usize..(end + 1).max(start) as usize];
                reply(&mut out, "206 Partial Content", &headers, body)
            }
            None => reply(&mut out, "200 OK", &headers, &bytes),
        };
    }
    not_found(&mut out)
}

fn gqa_revision(sha: &str) -> Revision {
    Revision {
        sha: sha.into(),
        files: dir_files("gqa"),
    }
}

fn logits(model: &Phi3ForCausalLM<Cpu>) -> Vec<f32> {
    let ids = model.input_ids(&[5, 17, 42, 7, 99]).unwrap();
    model.forward(ids).unwrap().into_data().to_vec().unwrap()
}

#[test]
fn from_pretrained_fetches_into_the_hub_cache_then_works_offline() {
    let main = "1111111111111111111111111111111111111111";
    let hub = Hub::start(vec![(("phi3-tests/tiny-gqa", "main"), gqa_revision(main))]);
    let cache = tempfile::tempdir().unwrap();
    let options = HubOptions::new().endpoint(&hub.url).cache_dir(cache.path());

    let model = Pretrained::from_pretrained("phi3-tests/tiny-gqa", &options)
        .unwrap()
        .load::<Cpu>(&LoadOptions::new(cpu()))
        .unwrap();
    let local = Pretrained::open(fixture("gqa"))
        .unwrap()
        .load::<Cpu>(&LoadOptions::new(cpu()))
        .unwrap();
    assert_eq!(max_abs_diff(&logits(&model), &logits(&local)), 0.0);

    // The standard cache layout: snapshots/<commit>/<file> → blobs/<etag>, refs/<revision>.
    let repo = cache.path().join("models--phi3-tests--tiny-gqa");
    let snapshot = repo.join("snapshots").join(main);
    for file in [
        "config.json",
        "model.safetensors",
        "repetition_penalty.json",
    ] {
        let want = file != "repetition_penalty.json"; // not a file a checkpoint needs
        assert_eq!(snapshot.join(file).exists(), want, "{file}");
    }
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main")).unwrap(),
        main
    );
    assert!(std::fs::read_dir(repo.join("blobs")).unwrap().count() >= 2);

    // Again online: the file list is asked for, nothing is downloaded again.
    let before = hub.count();
    let again = phi3::hub::snapshot("phi3-tests/tiny-gqa", &options).unwrap();
    assert_eq!(again, snapshot);
    let asked: Vec<String> = hub.requests.lock().unwrap()[before..].to_vec();
    assert_eq!(asked, ["/api/models/phi3-tests/tiny-gqa/revision/main"]);

    // Offline: no request at all, the same snapshot.
    let before = hub.count();
    let offline =
        Pretrained::from_pretrained("phi3-tests/tiny-gqa", &options.clone().offline(true))
            .unwrap()
            .load::<Cpu>(&LoadOptions::new(cpu()))
            .unwrap();
    assert_eq!(hub.count(), before, "offline made a request");
    assert_eq!(max_abs_diff(&logits(&offline), &logits(&local)), 0.0);
}

#[test]
fn revisions_shards_and_gguf_files() {
    let (main, v2) = (
        "2222222222222222222222222222222222222222",
        "3333333333333333333333333333333333333333",
    );
    let mut gguf = BTreeMap::new();
    gguf.insert("tiny.Q8_0.gguf".to_string(), fixture("gguf/phi3-gqa.gguf"));
    gguf.insert("README.md".to_string(), fixture("gqa/config.json"));
    let hub = Hub::start(vec![
        (("phi3-tests/tiny", "main"), gqa_revision(main)),
        (
            ("phi3-tests/tiny", "v2"),
            Revision {
                sha: v2.into(),
                files: dir_files("sharded"),
            },
        ),
        (
            ("phi3-tests/tiny-gguf", "main"),
            Revision {
                sha: main.into(),
                files: gguf,
            },
        ),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let options = HubOptions::new().endpoint(&hub.url).cache_dir(cache.path());

    // A tag: its own commit and files (a sharded checkpoint: index and every shard).
    let dir = phi3::hub::snapshot("phi3-tests/tiny", &options.clone().revision("v2")).unwrap();
    assert!(dir.ends_with(format!("snapshots/{v2}")), "{dir:?}");
    assert!(dir.join("model.safetensors.index.json").is_file());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        6,
        "config, index, 4 shards"
    );
    Pretrained::open(&dir)
        .unwrap()
        .load::<Cpu>(&LoadOptions::new(cpu()))
        .unwrap();
    assert!(
        hub.requests
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.contains("/resolve/v2/"))
    );
    let main_dir = phi3::hub::snapshot("phi3-tests/tiny", &options).unwrap();
    assert!(main_dir.ends_with(format!("snapshots/{main}")));

    // A GGUF repository: without a file named, a typed error listing them; with one, that file.
    let err = phi3::hub::snapshot("phi3-tests/tiny-gguf", &options).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("tiny.Q8_0.gguf") && message.contains("HubOptions::file"),
        "{message}"
    );
    let file = phi3::hub::snapshot(
        "phi3-tests/tiny-gguf",
        &options.clone().file("tiny.Q8_0.gguf"),
    )
    .unwrap();
    assert!(file.ends_with("tiny.Q8_0.gguf") && file.is_file());
    Pretrained::open(&file)
        .unwrap()
        .load::<Cpu>(&LoadOptions::new(cpu()))
        .unwrap();
}

#[test]
fn missing_repositories_and_uncached_offline_loads_are_typed_errors() {
    let hub = Hub::start(vec![]);
    let cache = tempfile::tempdir().unwrap();
    let options = HubOptions::new().endpoint(&hub.url).cache_dir(cache.path());
    let err = Pretrained::from_pretrained("nobody/nothing", &options)
        .err()
        .unwrap();
    assert!(
        matches!(err, Phi3Error::Hub { ref repo, .. } if repo == "nobody/nothing"),
        "{err}"
    );
    assert!(err.to_string().contains("404"), "{err}");

    let err = phi3::hub::snapshot("nobody/nothing", &options.clone().offline(true)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("not in the cache") && message.contains("config.json"),
        "{message}"
    );
}
