expect {{name}}.get "{\"url\":\"http://127.0.0.1:$port/hello\"}" 'hello over http'
