printf 'hello from the workspace\n' >"$ws/hello.txt"
