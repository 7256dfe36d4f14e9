// A .NET peer for pipeway's interop tests (tests/dotnet.rs), built with
// Mono's `mcs` and run with `mono`. Mono implements System.IO.Pipes with
// .NET Core's Unix code: a pipe NAME is a stream socket at
// $TMPDIR/CoreFxPipe_NAME.
//
//   mono Peer.exe ROLE NAME ACT
//
// ROLE is `client` or `server`; ACT says what to do (see Main). What the
// peer received goes to stdout; exit status 0 means the act succeeded, 3
// that a connect was refused (the refusal printed on stdout), 1 anything
// else (the exception on stderr).

using System;
using System.Diagnostics;
using System.IO;
using System.IO.Pipes;
using System.Text;

static class Peer
{
    const int OneMiB = 1 << 20;
    const int ConnectTimeoutMs = 20000;

    static int Main(string[] args)
    {
        string role = args[0], name = args[1], act = args[2];
        try
        {
            switch (role + " " + act)
            {
                case "client lines": ClientLines(name); return 0;
                case "server lines": ServerLines(name); return 0;
                case "client in": ClientIn(name); return 0;
                case "client out": ClientOut(name); return 0;
                case "server in": ServerIn(name); return 0;
                case "server out": ServerOut(name); return 0;
                case "client bulk": ClientBulk(name); return 0;
                case "server bulk": ServerBulk(name); return 0;
                case "client refused": return ClientRefused(name);
                default: throw new ArgumentException("unknown act: " + role + " " + act);
            }
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e.GetType().Name + ": " + e.Message);
            return 1;
        }
    }

    static NamedPipeClientStream Connect(string name, PipeDirection direction)
    {
        var client = new NamedPipeClientStream(".", name, direction);
        // The test waits for this line to know the client is waiting.
        Console.WriteLine("connecting");
        Console.Out.Flush();
        client.Connect(ConnectTimeoutMs);
        return client;
    }

    static NamedPipeServerStream Serve(string name, PipeDirection direction)
    {
        var server = new NamedPipeServerStream(name, direction);
        server.WaitForConnection();
        return server;
    }

    // One ReadLine/WriteLine exchange: say hello, print the reply.
    static void ClientLines(string name)
    {
        using (var pipe = Connect(name, PipeDirection.InOut))
        {
            var writer = new StreamWriter(pipe) { AutoFlush = true };
            var reader = new StreamReader(pipe);
            writer.WriteLine("hello from .NET");
            Console.WriteLine("reply: " + reader.ReadLine());
        }
    }

    // Answers each line until the client closes.
    static void ServerLines(string name)
    {
        using (var pipe = Serve(name, PipeDirection.InOut))
        {
            var writer = new StreamWriter(pipe) { AutoFlush = true };
            var reader = new StreamReader(pipe);
            string line;
            while ((line = reader.ReadLine()) != null)
            {
                writer.WriteLine(".NET got: " + line);
            }
        }
    }

    // PipeDirection.In: reads everything the server sends.
    static void ClientIn(string name)
    {
        using (var pipe = Connect(name, PipeDirection.In))
        {
            Console.Write("received: " + new StreamReader(pipe).ReadToEnd());
        }
    }

    // PipeDirection.Out: sends two lines and closes.
    static void ClientOut(string name)
    {
        using (var pipe = Connect(name, PipeDirection.Out))
        {
            var bytes = Encoding.UTF8.GetBytes("report 1\nreport 2\n");
            pipe.Write(bytes, 0, bytes.Length);
        }
    }

    static void ServerIn(string name)
    {
        using (var pipe = Serve(name, PipeDirection.In))
        {
            Console.Write("received: " + new StreamReader(pipe).ReadToEnd());
        }
    }

    static void ServerOut(string name)
    {
        using (var pipe = Serve(name, PipeDirection.Out))
        {
            var bytes = Encoding.UTF8.GetBytes("news 1\nnews 2\n");
            pipe.Write(bytes, 0, bytes.Length);
        }
    }

    // What .NET sends in the bulk exchange, and what it expects back (the
    // same functions as in tests/dotnet.rs).
    static byte FromDotnet(int i) { return (byte)(i % 251); }
    static byte FromPipeway(int i) { return (byte)((i * 7 + 3) % 256); }

    static void Send(Stream pipe)
    {
        var data = new byte[OneMiB];
        for (int i = 0; i < data.Length; i++) data[i] = FromDotnet(i);
        pipe.Write(data, 0, data.Length);
        pipe.Flush();
    }

    static void Receive(Stream pipe)
    {
        var data = new byte[OneMiB];
        int filled = 0;
        while (filled < data.Length)
        {
            int n = pipe.Read(data, filled, data.Length - filled);
            if (n == 0) throw new EndOfStreamException("end of stream after " + filled + " bytes");
            filled += n;
        }
        for (int i = 0; i < data.Length; i++)
        {
            if (data[i] != FromPipeway(i)) throw new InvalidDataException("byte " + i + " differs");
        }
        Console.WriteLine("received 1 MiB intact");
    }

    // 1 MiB each way: the client sends first, the server answers.
    static void ClientBulk(string name)
    {
        using (var pipe = Connect(name, PipeDirection.InOut))
        {
            Send(pipe);
            Receive(pipe);
        }
    }

    static void ServerBulk(string name)
    {
        using (var pipe = Serve(name, PipeDirection.InOut))
        {
            Receive(pipe);
            Send(pipe);
        }
    }

    // A connect that should be refused: prints how and how fast.
    static int ClientRefused(string name)
    {
        var watch = Stopwatch.StartNew();
        try
        {
            using (var pipe = Connect(name, PipeDirection.InOut))
            {
                Console.WriteLine("connected");
                return 0;
            }
        }
        catch (Exception e)
        {
            Console.WriteLine("refused after " + watch.ElapsedMilliseconds + " ms: " + e.Message);
            return 3;
        }
    }
}
