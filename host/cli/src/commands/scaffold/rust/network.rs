
/// Bytes of a response body `get` returns at most; the rest is cut.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Input of `get`.
#[derive(Deserialize, JsonSchema)]
struct GetInput {
    /// An `http://` or `https://` URL.
    url: String,
}

/// What `get` answers.
#[derive(Serialize, JsonSchema)]
struct GetOutput {
    /// The HTTP status code.
    status: u16,
    /// The body as text (invalid UTF-8 replaced), at most 64 KiB.
    body: String,
    /// Whether the body was cut at 64 KiB.
    truncated: bool,
}

/// GET a URL through `wasi:http`. warden sends the request itself, only to
/// an origin the user granted (and checks every redirect the same way).
fn get(input: GetInput) -> Result<GetOutput, ToolError> {
    use wasip2::http::types::{Fields, Method, OutgoingRequest, Scheme};
    let (scheme, rest) = if let Some(rest) = input.url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = input.url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(ToolError::invalid("the url must start with http:// or https://"));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].to_string()),
        Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
        None => (rest, "/".to_string()),
    };
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_method(&Method::Get)
        .and_then(|()| request.set_scheme(Some(&scheme)))
        .and_then(|()| request.set_authority(Some(authority)))
        .and_then(|()| request.set_path_with_query(Some(&path)))
        .map_err(|()| ToolError::invalid(format!("{} is not a URL warden can request", input.url)))?;
    let pending = wasip2::http::outgoing_handler::handle(request, None)
        .map_err(|e| refused(&input.url, &e))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(refused(&input.url, &e)),
        Some(Err(())) | None => {
            return Err(ToolError::failed(format!("{}: no response", input.url)));
        }
    };
    let status = response.status();
    let body = response
        .consume()
        .map_err(|()| ToolError::failed("the response has no body"))?;
    let mut bytes = Vec::new();
    let mut truncated = false;
    {
        // The stream is a child of `body`: dropped before it.
        let stream = body
            .stream()
            .map_err(|()| ToolError::failed("the response has no body"))?;
        // One byte past the cap tells a full body from a longer one.
        while bytes.len() <= MAX_BODY_BYTES {
            match stream.blocking_read((MAX_BODY_BYTES + 1 - bytes.len()) as u64) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(wasip2::io::streams::StreamError::Closed) => break,
                Err(e) => return Err(ToolError::failed(format!("{}: {e:?}", input.url))),
            }
        }
        if bytes.len() > MAX_BODY_BYTES {
            bytes.truncate(MAX_BODY_BYTES);
            truncated = true;
        }
    }
    drop(body);
    Ok(GetOutput {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        truncated,
    })
}

/// warden answers an ungranted origin with `HTTP-request-denied` and an
/// ungranted loopback or private address with `destination-IP-prohibited`.
fn refused(url: &str, e: &wasip2::http::types::ErrorCode) -> ToolError {
    use wasip2::http::types::ErrorCode;
    match e {
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => ToolError::Denied {
            capability: "network".into(),
            resource: url.into(),
            reason: format!("warden refused the request ({e:?}): its origin is not granted"),
        },
        other => ToolError::failed(format!("{url}: {other:?}")),
    }
}
