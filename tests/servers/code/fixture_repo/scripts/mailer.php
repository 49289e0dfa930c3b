<?php

namespace App\Mail;

/**
 * Sends mail.
 */
class Mailer
{
    const RETRIES = 3;

    public function send(string $to, string $body): bool
    {
        return deliver($to, $body);
    }
}

interface Transport
{
    public function push(string $payload): void;
}

function deliver(string $to, string $body): bool
{
    return strlen($to) > 0 && strlen($body) > 0;
}
